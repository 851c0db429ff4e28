/** The seccomp sessions' fields of the TraceSession status schema (see ./types). */
export const syscallsSchema = {
  container: {
    syscalls: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 4095 }, maxItems: 4096 },
    seen: {
      type: 'array',
      maxItems: 4096,
      items: {
        type: 'array',
        minItems: 4,
        maxItems: 4,
        items: { type: 'integer', format: 'int64', minimum: 0 },
      },
    },
    life: {
      type: 'object',
      properties: {
        execProcesses: { type: 'integer' },
        stopSignals: { type: 'integer' },
        entrypointExit: { type: 'integer', format: 'int64' },
      },
    },
  },
};
