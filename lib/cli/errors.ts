import { HardenError } from '../errors';

/** A command line yargs refused (unknown verb or flag, conflicting flags): printed with a usage pointer. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function formatError(err: unknown, verbose: boolean): string {
  if (err instanceof HardenError) {
    return `error: ${err.message}${err.hint ? `\n${err.hint}` : ''}`;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return verbose ? `error: ${e.stack ?? e.message}` : `error: ${e.message}`;
}
