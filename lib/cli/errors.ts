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
    return printable(`error: ${err.message}${err.hint ? `\n${err.hint}` : ''}`);
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return printable(verbose ? `error: ${e.stack ?? e.message}` : `error: ${e.message}`);
}

/**
 * Text from input files or the cluster, made safe for a terminal: control characters (an ESC
 * could recolour or retitle it) and bidi overrides become visible escapes; tabs and newlines stay.
 */
export function printable(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => {
      const code = c.charCodeAt(0);
      return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
    },
  );
}
