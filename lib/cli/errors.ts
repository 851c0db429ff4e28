import { HardenError } from '../errors';

/**
 * A command line that cannot run (unknown verb or flag, conflicting flags): printed with a pointer
 * to the help of the command it is about (`see`), as kubectl prints it.
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly see = 'kubectl harden',
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** cobra's suggestion rule: names within two edits of what was typed, or that start with it. */
export function suggestions(typed: string, names: readonly string[]): string[] {
  return names.filter((n) => n.startsWith(typed) || editDistance(typed, n) <= 2);
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** kubectl's wording for a verb that does not exist: `unknown command "x" for "kubectl harden seccomp"`. */
export function unknownCommand(typed: string, path: string, names: readonly string[]): UsageError {
  const near = suggestions(typed, names);
  const hint = near.length ? `\n\nDid you mean this?\n${near.map((n) => `\t${n}\n`).join('')}` : '';
  return new UsageError(`unknown command "${typed}" for "${path}"${hint}`, path);
}

/** How main() prints a failure: the message, the hint, and a stack only when it is a bug and -v asks. */
export function formatError(err: unknown, showStack: boolean): string {
  // A message ending in a suggestion block ends with a newline: the pointer then follows a blank line.
  if (err instanceof UsageError)
    return printable(`error: ${err.message}\nSee '${err.see} --help' for usage.`);
  if (err instanceof HardenError) {
    return printable(`error: ${err.message}${err.hint ? `\n${err.hint}` : ''}`);
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return printable(showStack ? `error: ${e.stack ?? e.message}` : `error: ${e.message}`);
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
