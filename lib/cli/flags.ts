import type { Argv } from 'yargs';
import type { Runtime } from './context';
import { UsageError } from './errors';
import { targetChoiceError, targetSelector, type TargetFlags } from '../session/target-flags';

/**
 * kubectl's connection flags, parsed by the plugin itself (kubectl rejects flags before a plugin's
 * name). Flags only some verbs take (-o, -A) are added by those verbs, so help never offers a flag
 * a verb would ignore.
 */
export interface GlobalFlags {
  kubeconfig?: string;
  context?: string;
  cluster?: string;
  user?: string;
  namespace?: string;
  requestTimeout?: string;
  v?: number;
  /** Not a flag: main() passes it through the parser's context (tests pass fakes). */
  hardenRuntime?: Runtime;
}

export function addGlobalFlags<T>(y: Argv<T>): Argv<T & GlobalFlags> {
  return y
    .option('kubeconfig', { type: 'string', describe: 'Path to the kubeconfig file to use', global: true })
    .option('context', {
      type: 'string',
      describe: 'The name of the kubeconfig context to use',
      global: true,
    })
    .option('cluster', {
      type: 'string',
      describe: 'The name of the kubeconfig cluster to use',
      global: true,
    })
    .option('user', { type: 'string', describe: 'The name of the kubeconfig user to use', global: true })
    .option('namespace', {
      alias: 'n',
      type: 'string',
      describe: "Namespace (default: the context's namespace, else default)",
      global: true,
    })
    .option('request-timeout', {
      type: 'string',
      describe: 'How long to wait for a single server request (e.g. 30s, 1m; 0 = no timeout)',
      global: true,
    })
    .option('v', {
      type: 'number',
      describe: 'Log level for diagnostics on stderr',
      global: true,
    }) as unknown as Argv<T & GlobalFlags>;
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

/**
 * -p/-l (and --all where the verb offers it): what a session traces (a verb adds its own wording of
 * "trace"). Exactly one must be given; that is checked while parsing, before any connection.
 */
export function addTargetFlags<T>(
  y: Argv<T>,
  verb: string,
  opts: { all?: boolean } = {},
): Argv<T & { pod?: string; selector?: string; all?: boolean }> {
  let out = y
    .option('pod', { alias: 'p', type: 'string', describe: `The pod to ${verb}` })
    .option('selector', {
      alias: 'l',
      type: 'string',
      describe: `${verb[0].toUpperCase()}${verb.slice(1)} the pods with these labels, including later ones`,
    });
  if (opts.all) {
    out = out.option('all', {
      type: 'boolean',
      describe: `${verb[0].toUpperCase()}${verb.slice(1)} every pod of the namespace`,
    });
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
