import type { Argv } from 'yargs';
import type { Runtime } from './context';
import type { BaseArgs } from './flags';

/**
 * One command line's run, which main() passes to every handler through the parser's context: what
 * they work with, and what they hand back (an exit code is returned, never left in a global).
 * Light, as command modules use it while parsing.
 */
export interface Invocation {
  /** The cluster, terminal and signals; absent: the process's own (lib/cli/context). */
  runtime?: Runtime;
  /** The exit code of a verb whose success has degrees (verify: 1 when flows would be denied). */
  exitCode: number;
  /** The exit code of a failure: 1, or 2 for a verb whose 1 reports findings (set by its builder). */
  failureCode: number;
  /** -v, once parsed: main() shows an unexpected error's stack from DEBUG_LEVEL on. */
  verbosity: number;
}

export function newInvocation(runtime?: Runtime): Invocation {
  return { runtime, exitCode: 0, failureCode: 1, verbosity: 0 };
}

/** The invocation main() placed in the parser's context; a parser run without main() gets its own. */
export function invocationOf(argv: BaseArgs): Invocation {
  argv.harden ??= newInvocation();
  return argv.harden;
}

/**
 * For a verb whose exit 1 reports findings (as diff's does: `netpol verify`): its failures exit 2.
 * Set while its flags are read, so a usage error of the verb exits 2 as well.
 */
export function reportsFindings<T>(y: Argv<T>): Argv<T> {
  return y.middleware((argv) => {
    invocationOf(argv as BaseArgs).failureCode = 2;
  }, true);
}
