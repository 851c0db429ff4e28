import type { Argv, CommandModule } from 'yargs';
import { addTargetFlags, type GlobalFlags } from './flags';

/** --input and --skip-invalid: how the verbs that read a flow log take it. */
function addFlowLogFlags(y: Argv<GlobalFlags>) {
  return y
    .option('input', {
      type: 'string',
      demandOption: true,
      requiresArg: true,
      describe: 'Flow log written by `netpol monitor` (- for stdin)',
    })
    .option('skip-invalid', {
      type: 'boolean',
      default: false,
      describe: 'Count and skip malformed flow lines instead of failing on the first',
    });
}

export interface NetpolReportArgs extends GlobalFlags {
  input: string;
  skipInvalid: boolean;
}

export const netpolReportCommand: CommandModule<GlobalFlags, NetpolReportArgs> = {
  command: 'report',
  describe: 'Turn a flow log from `netpol monitor` into NetworkPolicies, offline (no cluster needed)',
  builder: (y: Argv<GlobalFlags>) =>
    addFlowLogFlags(y)
      .example('$0 netpol report --input net.log > netpol.yaml', 'one NetworkPolicy per observed workload')
      .example(
        'cat a.log b.log | $0 netpol report --input - -o json',
        'several monitor runs, as a JSON List',
      ) as unknown as Argv<NetpolReportArgs>,
  handler: async (argv) => {
    const { runNetpolReport } = await import('./netpol-report-run');
    await runNetpolReport(argv);
  },
};

export interface NetpolMonitorArgs extends GlobalFlags {
  pod?: string;
  selector?: string;
  all?: boolean;
  timeout?: string;
}

export const netpolMonitorCommand: CommandModule<GlobalFlags, NetpolMonitorArgs> = {
  command: 'monitor',
  describe:
    "Record a workload's connections, peers resolved while fresh, as a flow log (Ctrl-C or --timeout ends it)",
  builder: (y: Argv<GlobalFlags>) =>
    addTargetFlags(y, 'monitor')
      .option('all', { type: 'boolean', describe: 'Monitor every pod of the namespace' })
      .option('timeout', {
        type: 'string',
        describe: 'Stop after this long (e.g. 10m); default: until Ctrl-C',
      })
      .example(
        '$0 netpol monitor -n web -l app=nginx --output net.log',
        '',
      ) as unknown as Argv<NetpolMonitorArgs>,
  handler: async (argv) => {
    const { runNetpolMonitor } = await import('./netpol-monitor-run');
    await runNetpolMonitor(argv);
  },
};

export interface NetpolVerifyArgs extends GlobalFlags {
  input: string;
  /** One -f is a string, several an array. */
  filename?: string | string[];
  fromCluster: boolean;
  skipInvalid: boolean;
}

export const netpolVerifyCommand: CommandModule<GlobalFlags, NetpolVerifyArgs> = {
  command: 'verify',
  describe:
    'Which flows of a flow log the given NetworkPolicies would deny (exit 1 if any, 0 if none, 2 on error)',
  builder: (y: Argv<GlobalFlags>) =>
    addFlowLogFlags(y)
      // A string, repeatable (-f a -f b), rather than an array option, which would not take "-".
      .option('filename', {
        alias: 'f',
        type: 'string',
        requiresArg: true,
        describe:
          'NetworkPolicies: a YAML or JSON file (multi-document or a List), a directory of them, or - for stdin; repeatable',
      })
      .option('from-cluster', {
        type: 'boolean',
        default: false,
        describe:
          "Also the NetworkPolicies in the cluster, in the log's namespaces (through the current context)",
      })
      .example('$0 netpol verify --input net.log -f netpol.yaml', 'what applying netpol.yaml would break')
      .example(
        '$0 netpol verify --input net.log --from-cluster -f new/',
        "the cluster's policies plus the new ones (a file replaces the cluster's policy of the same name)",
      ) as unknown as Argv<NetpolVerifyArgs>,
  handler: async (argv) => {
    const [{ runNetpolVerify }, { processIo }, { Kube }] = await Promise.all([
      import('./netpol-verify-run'),
      import('./context'),
      import('../kube/client'),
    ]);
    process.exitCode = await runNetpolVerify(argv, {
      io: processIo(argv),
      stdin: process.stdin,
      kube: () => Kube.connect(argv),
    });
  },
};

/** The verbs under `netpol`; a new one (monitor) is one more entry here. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each subcommand has its own argument type
export const netpolSubcommands: CommandModule<GlobalFlags, any>[] = [
  netpolMonitorCommand,
  netpolReportCommand,
  netpolVerifyCommand,
];

export const netpolCommand: CommandModule<GlobalFlags, GlobalFlags> = {
  command: 'netpol <command>',
  describe: "Watch a workload's connections and turn them into NetworkPolicies",
  builder: (y: Argv<GlobalFlags>) =>
    netpolSubcommands
      .reduce((acc, c) => acc.command(c), y)
      .demandCommand(1, 'Name a netpol command; see kubectl harden netpol --help.'),
  // Never reached: yargs runs the subcommand, or fails on an unknown one under .strict().
  handler: () => undefined,
};
