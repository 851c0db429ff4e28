import type { Argv, CommandModule } from 'yargs';
import type { GlobalFlags } from './flags';

export interface NetpolReportArgs extends GlobalFlags {
  input: string;
  skipInvalid: boolean;
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

/** The verbs under `netpol`; a new one (monitor) is one more entry here. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each subcommand has its own argument type
export const netpolSubcommands: CommandModule<GlobalFlags, any>[] = [netpolReportCommand];

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
