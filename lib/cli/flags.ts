import type { Argv } from 'yargs';
import { parseDuration } from '../duration';
import type { Invocation } from './invocation';
import { UsageError } from './errors';
import { targetChoiceError, targetSelector, type TargetFlags } from '../session/target-flags';

/**
 * Flags as kubectl spells them, each offered by the verbs that honour it: `-v` by all (it is
 * global, as kubectl's), the connection flags by the verbs that connect, `-n` by those whose
 * work is in a namespace, `-o`/`-A`/`--timeout` by the verbs that print, list or wait. yargs then
 * refuses anything else as an unknown argument, before any connection.
 */

/** What every handler's argv carries: -v, and the invocation main() passes through the parser's context. */
export interface BaseArgs {
  /** -v: kubectl's log level. */
  v?: number;
  /** Not a flag: main() passes it through the parser's context (tests pass fakes). */
  harden?: Invocation;
}

/** kubectl's connection flags: what `Runtime.connect` reads. */
export interface ConnectionArgs extends BaseArgs {
  kubeconfig?: string;
  context?: string;
  cluster?: string;
  user?: string;
  /** Absent on verbs that work cluster-wide: they do not offer -n. */
  namespace?: string;
  requestTimeout?: string;
}

/** From this level on, kubectl shows debug output; an unexpected error then shows its stack. */
export const DEBUG_LEVEL = 6;

/** kubectl's -v/--v: a level that must be given (-v=6, -v 6, --v=6). */
export function addVerbosityFlag<T>(y: Argv<T>): Argv<T & BaseArgs> {
  return y.option('v', {
    type: 'string',
    global: true,
    describe: `Log level: ${DEBUG_LEVEL} and above show the stack of an unexpected error`,
    coerce: (text: unknown) => {
      const s = String(text);
      if (s === '') throw new UsageError("flag needs an argument: 'v' in -v");
      if (!/^\d+$/.test(s))
        throw new UsageError(`invalid argument "${s}" for "-v, --v" flag: a level is 0 or more`);
      return Number(s);
    },
  }) as unknown as Argv<T & BaseArgs>;
}

/**
 * kubectl's connection flags, for a verb that talks to the cluster; `-n` only where the work is in a
 * namespace (`namespaced`). Parsed by the plugin itself: kubectl rejects flags before a plugin's name.
 */
export function addConnectionFlags<T>(y: Argv<T>, opts: { namespaced: boolean }): Argv<T & ConnectionArgs> {
  let out = y
    .option('kubeconfig', {
      type: 'string',
      requiresArg: true,
      describe: 'Path to the kubeconfig file to use',
    })
    .option('context', {
      type: 'string',
      requiresArg: true,
      describe: 'The name of the kubeconfig context to use',
    })
    .option('cluster', {
      type: 'string',
      requiresArg: true,
      describe: 'The name of the kubeconfig cluster to use',
    })
    .option('user', { type: 'string', requiresArg: true, describe: 'The name of the kubeconfig user to use' })
    .option('request-timeout', {
      type: 'string',
      requiresArg: true,
      describe: 'How long to wait for a single server request (e.g. 30s, 1m; 0: no limit)',
      coerce: (text: string) => (checkDuration(text), text),
    });
  if (opts.namespaced)
    out = out.option('namespace', {
      alias: 'n',
      type: 'string',
      requiresArg: true,
      describe: "Namespace (default: the context's namespace, else default)",
    });
  return out as unknown as Argv<T & ConnectionArgs>;
}

function checkDuration(text: string): number {
  try {
    return parseDuration(text);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * --timeout, with one meaning for every verb: how long it waits for `what` before giving up (or,
 * for `netpol monitor`, before it stops as Ctrl-C would). A duration (30s, 2m, 1h; a bare number is
 * seconds); 0 or 0s: no limit. Arrives as milliseconds, Infinity for no limit. `flag`: another
 * flag of the same meaning (monitor's --flush-timeout).
 */
export function addTimeoutFlag<T, K extends string = 'timeout'>(
  y: Argv<T>,
  what: string,
  fallback: string,
  flag: string = 'timeout',
): Argv<T & { [key in K]: number }> {
  return y.option(flag, {
    type: 'string',
    default: fallback,
    describe: `How long to wait ${what} (e.g. 30s, 2m); 0: no limit`,
    coerce: (text: string) => {
      const ms = checkDuration(text);
      return ms === 0 ? Infinity : ms;
    },
  }) as unknown as Argv<T & { [key in K]: number }>;
}

/** kubectl's -o/--output, offering exactly the formats this verb writes (checked before connecting). */
export function addOutputFlag<T, F extends string>(
  y: Argv<T>,
  formats: readonly F[],
  fallback: F,
): Argv<T & { output: F }> {
  return y.option('output', {
    alias: 'o',
    type: 'string',
    choices: formats,
    default: fallback,
    describe: 'Output format',
  }) as unknown as Argv<T & { output: F }>;
}

/** kubectl's -A/--all-namespaces, for the verbs that list. */
export function addAllNamespacesFlag<T>(y: Argv<T>): Argv<T & { allNamespaces?: boolean }> {
  return y.option('all-namespaces', {
    alias: 'A',
    type: 'boolean',
    describe: 'Across all namespaces',
  }) as unknown as Argv<T & { allNamespaces?: boolean }>;
}

export type ListingFormat = 'table' | 'json' | 'yaml';

/** The flags of every verb that lists objects: the connection's, -A, and -o table|json|yaml. */
export function addListingFlags<T>(y: Argv<T>) {
  return addOutputFlag(
    addAllNamespacesFlag(addConnectionFlags(y, { namespaced: true })),
    ['table', 'json', 'yaml'] as const,
    'table',
  );
}

/** What a listing verb's flags ask for, as its run function takes it. */
export function listingOptions(argv: Record<string, unknown>): {
  allNamespaces: boolean;
  output: ListingFormat;
} {
  return { allNamespaces: argv.allNamespaces === true, output: argv.output as ListingFormat };
}

/**
 * -p/-l (and --all where the verb offers it): what a session traces (a verb adds its own wording of
 * "trace"). Exactly one must be given, and -l must be a selector; both are checked while parsing,
 * before any connection.
 */
export function addTargetFlags<T>(
  y: Argv<T>,
  verb: string,
  opts: { all?: boolean } = {},
): Argv<T & { pod?: string; selector?: string; all?: boolean }> {
  const Verb = `${verb[0].toUpperCase()}${verb.slice(1)}`;
  let out = y
    .option('pod', { alias: 'p', type: 'string', requiresArg: true, describe: `The pod to ${verb}` })
    .option('selector', {
      alias: 'l',
      type: 'string',
      requiresArg: true,
      describe: `${Verb} the pods with these labels (kubectl's syntax: a=b,c in (d,e),!f), including later ones`,
    });
  if (opts.all) {
    out = out.option('all', { type: 'boolean', describe: `${Verb} every pod of the namespace` });
  }
  // A usage error, reported like an unknown flag, before any connection.
  return out.check((argv) => {
    const flags = argv as TargetFlags;
    const problem = targetChoiceError(flags, opts.all ?? false);
    if (problem) throw new UsageError(problem);
    if (flags.selector !== undefined) {
      try {
        targetSelector(flags.selector);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    return true;
  }) as unknown as Argv<T & { pod?: string; selector?: string; all?: boolean }>;
}
