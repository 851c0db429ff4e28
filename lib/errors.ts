/**
 * An error meant for the user: one line saying what went wrong (naming the object, namespace and
 * context), and optionally what to do next. Anything else that escapes is a bug and shows a stack.
 * It lives below the CLI so that lib/kube, lib/session and the agent can raise it without
 * depending on the command-line layer; the CLI only formats it.
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

/** The exit code of a command interrupted by Ctrl-C (SIGINT) or SIGTERM: 128 + SIGINT, as shells report it. */
export const INTERRUPTED = 130;
