import type { Argv, CommandModule } from 'yargs';
import { START_TIMEOUT_MS } from '../session/timeouts';
import {
  addConnectionFlags,
  addOutputFlag,
  addTargetFlags,
  addTimeoutFlag,
  type BaseArgs,
  type ConnectionArgs,
} from './flags';
import { invocationOf, reportsFindings } from './invocation';
import { verbGroup, type AnyCommand } from './verb-group';

/** --input and --skip-invalid: how the verbs that read a flow log take it. */
function addFlowLogFlags<T>(y: Argv<T>) {
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

interface ReportArgs extends BaseArgs {
  input: string;
  skipInvalid: boolean;
  aggregate: boolean;
  /** cilium: CiliumNetworkPolicy YAML (-o names the kind of object, as `seccomp -o crd` does). */
  output: 'yaml' | 'json' | 'cilium';
}

// Offline: no connection flags.
export const netpolReportCommand: CommandModule<BaseArgs, ReportArgs> = {
  command: 'report',
  describe: 'Turn a flow log from `netpol monitor` into NetworkPolicies, offline (no cluster needed)',
  builder: (y: Argv<BaseArgs>) =>
    addOutputFlag(addFlowLogFlags(y), ['yaml', 'json', 'cilium'], 'yaml')
      .option('aggregate', {
        type: 'boolean',
        default: false,
        describe:
          'Fold many external addresses into at most 16 CIDRs per rule and family (wider than what was seen; said on stderr)',
      })
      .example('$0 netpol report --input net.log > netpol.yaml', 'one NetworkPolicy per observed workload')
      .example('cat a.log b.log | $0 netpol report --input - -o json', 'several monitor runs, as a JSON List')
      .example(
        '$0 netpol report --input net.log.gz -o cilium',
        'CiliumNetworkPolicy objects (gzip is read as is)',
      ) as unknown as Argv<ReportArgs>,
  handler: async (argv) => {
    const [{ runNetpolReport }, { runtimeOf }] = await Promise.all([
      import('./netpol-report-run'),
      import('./context'),
    ]);
    await runNetpolReport(
      { input: argv.input, skipInvalid: argv.skipInvalid, aggregate: argv.aggregate, output: argv.output },
      { io: runtimeOf(argv).io(argv) },
    );
  },
};

interface MonitorArgs extends ConnectionArgs {
  pod?: string;
  selector?: string;
  all?: boolean;
  output?: string;
  timeout: number;
  flushTimeout: number;
  acceptPartial: boolean;
  acceptGaps: boolean;
  acceptTruncated: boolean;
}

export const netpolMonitorCommand: CommandModule<BaseArgs, MonitorArgs> = {
  command: 'monitor',
  describe:
    "Record a workload's connections, peers resolved while fresh, as a flow log (Ctrl-C or --timeout ends it)",
  builder: (y: Argv<BaseArgs>) =>
    addTimeoutFlag(
      addTimeoutFlag(
        addTargetFlags(addConnectionFlags(y, { namespaced: true }), 'monitor', { all: true }),
        'before stopping as Ctrl-C does',
        '0',
      ),
      "after the stop for every node's final flush",
      '10s',
      'flush-timeout',
    )
      // Not kubectl's -o: this verb writes one artifact, a flow log, and this names its file.
      .option('output', {
        type: 'string',
        requiresArg: true,
        describe: 'Write the flow log to this file (default, or -: stdout)',
      })
      .option('accept-partial', {
        type: 'boolean',
        default: false,
        describe: 'Exit 0 even when a final flush did not arrive (the log then lacks that last interval)',
      })
      .option('accept-gaps', {
        type: 'boolean',
        default: false,
        describe:
          'Exit 0 even when a target was not traced for a while (each gap is named on stderr and in the log)',
      })
      .option('accept-truncated', {
        type: 'boolean',
        default: false,
        describe: "Exit 0 even when a node's agent dropped flows beyond its bound (named on stderr)",
      })
      .example('$0 netpol monitor -n web -l app=nginx --output net.log', '') as unknown as Argv<MonitorArgs>,
  handler: async (argv) => {
    const opts = {
      pod: argv.pod,
      selector: argv.selector,
      all: argv.all,
      output: argv.output,
      // --timeout 0 (the default) is no limit: until Ctrl-C.
      durationMs: Number.isFinite(argv.timeout) ? argv.timeout : undefined,
      startTimeoutMs: START_TIMEOUT_MS,
      flushTimeoutMs: argv.flushTimeout,
      acceptPartial: argv.acceptPartial,
      acceptGaps: argv.acceptGaps,
      acceptTruncated: argv.acceptTruncated,
    };
    const [{ runNetpolMonitor }, { collaborators }] = await Promise.all([
      import('./netpol-monitor-run'),
      import('./context'),
    ]);
    await runNetpolMonitor(opts, await collaborators(argv));
  },
};

interface VerifyArgs extends ConnectionArgs {
  input: string;
  /** One -f is a string, several an array. */
  filename?: string | string[];
  fromCluster: boolean;
  skipInvalid: boolean;
  output: 'table' | 'json' | 'yaml';
}

export const netpolVerifyCommand: CommandModule<BaseArgs, VerifyArgs> = {
  command: 'verify',
  describe:
    'Which flows of a flow log the given NetworkPolicies would deny (exit 1 if any, 0 if none, 2 on error)',
  builder: (y: Argv<BaseArgs>) =>
    addOutputFlag(
      addFlowLogFlags(addConnectionFlags(reportsFindings(y), { namespaced: true })),
      ['table', 'json', 'yaml'],
      'table',
    )
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
      ) as unknown as Argv<VerifyArgs>,
  handler: async (argv) => {
    const { runNetpolVerify } = await import('./netpol-verify-run');
    const { resolveContext } = await import('../kube/kubeconfig');
    const { runtimeOf } = await import('./context');
    const invocation = invocationOf(argv);
    const rt = runtimeOf(argv);
    invocation.exitCode = await runNetpolVerify(
      {
        input: argv.input,
        files: [argv.filename ?? []].flat(),
        fromCluster: argv.fromCluster,
        skipInvalid: argv.skipInvalid,
        output: argv.output,
        namespace: argv.namespace,
      },
      {
        io: rt.io(argv),
        stdin: process.stdin,
        kube: () => rt.connect(argv),
        contextNamespace: () => {
          try {
            return resolveContext(argv).namespace;
          } catch {
            return undefined; // no kubeconfig: verify works offline, namespaceless policies go to "default"
          }
        },
      },
    );
  },
};

/** `kubectl harden netpol monitor|report|verify`; a new verb is one more entry here. */
export const netpolCommand: AnyCommand = verbGroup({
  name: 'netpol',
  describe: "Watch a workload's connections and turn them into NetworkPolicies",
  verbs: [netpolMonitorCommand, netpolReportCommand, netpolVerifyCommand],
});
