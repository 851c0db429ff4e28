import type { Argv, CommandModule } from 'yargs';
import { addTargetFlags, type GlobalFlags } from './flags';

export interface NetpolReportArgs extends GlobalFlags {
  input: string;
  skipInvalid: boolean;
  aggregate: boolean;
}

export const netpolReportCommand: CommandModule<GlobalFlags, NetpolReportArgs> = {
  command: 'report',
  describe: 'Turn a flow log from `netpol monitor` into NetworkPolicies, offline (no cluster needed)',
  builder: (y: Argv<GlobalFlags>) =>
    y
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
      })
      .option('aggregate', {
        type: 'boolean',
        default: false,
        describe:
          'Fold many external addresses into at most 16 CIDRs per rule and family (wider than what was seen; said on stderr)',
      })
      // Only the description changes: the global flag already has its -o alias.
      .option('output', {
        type: 'string',
        describe: 'Output format: yaml|json (NetworkPolicy), or cilium (CiliumNetworkPolicy YAML)',
      })
      .example('$0 netpol report --input net.log > netpol.yaml', 'one NetworkPolicy per observed workload')
      .example('cat a.log b.log | $0 netpol report --input - -o json', 'several monitor runs, as a JSON List')
      .example(
        '$0 netpol report --input net.log.gz -o cilium',
        'CiliumNetworkPolicy objects (gzip is read as is)',
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

/** The verbs under `netpol`; a new one (monitor) is one more entry here. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each subcommand has its own argument type
export const netpolSubcommands: CommandModule<GlobalFlags, any>[] = [
  netpolMonitorCommand,
  netpolReportCommand,
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
