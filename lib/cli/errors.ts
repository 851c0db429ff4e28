/**
 * An error meant for the user: one line saying what went wrong (naming the object, namespace and
 * context), and optionally what to do next. Anything else that escapes is a bug and shows a stack.
 */
export class HardenError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'HardenError';
  }
}

export function formatError(err: unknown, verbose: boolean): string {
  if (err instanceof HardenError) {
    return `error: ${err.message}${err.hint ? `\n${err.hint}` : ''}`;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return verbose ? `error: ${e.stack ?? e.message}` : `error: ${e.message}`;
}
