import type { Argv } from 'yargs';

/** kubectl's global flags, parsed by the plugin itself (kubectl rejects flags before a plugin's name). */
export interface GlobalFlags {
  kubeconfig?: string;
  context?: string;
  cluster?: string;
  user?: string;
  namespace?: string;
  allNamespaces?: boolean;
  requestTimeout?: string;
  output?: string;
  v?: number;
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
    .option('all-namespaces', {
      alias: 'A',
      type: 'boolean',
      describe: 'Across all namespaces',
      global: true,
    })
    .option('request-timeout', {
      type: 'string',
      describe: 'How long to wait for a single server request (e.g. 30s, 1m; 0 = no timeout)',
      global: true,
    })
    .option('output', {
      alias: 'o',
      type: 'string',
      describe: 'Output format: json|yaml|table',
      global: true,
    })
    .option('v', {
      type: 'number',
      describe: 'Log level for diagnostics on stderr',
      global: true,
    }) as unknown as Argv<T & GlobalFlags>;
}

/** -p/-l: what a session traces (a verb adds its own wording of "trace"). */
export function addTargetFlags<T>(y: Argv<T>, verb: string): Argv<T & { pod?: string; selector?: string }> {
  return y.option('pod', { alias: 'p', type: 'string', describe: `The pod to ${verb}` }).option('selector', {
    alias: 'l',
    type: 'string',
    describe: `${verb[0].toUpperCase()}${verb.slice(1)} the pods with these labels, including later ones`,
  }) as unknown as Argv<T & { pod?: string; selector?: string }>;
}
