import type { Argv, CommandModule } from 'yargs';
import { START_TIMEOUT_MS } from '../session/timeouts';
import { targetSelector } from '../session/target-flags';
import { UsageError } from './errors';
import {
  addConnectionFlags,
  addOutputFlag,
  addTimeoutFlag,
  type BaseArgs,
  type ConnectionArgs,
} from './flags';

interface RecordArgs extends ConnectionArgs {
  selector?: string;
  all?: boolean;
  restart: boolean;
  includeShutdown: boolean;
  duration: number;
  outputDir: string;
  netpolFormat: 'kubernetes' | 'cilium';
  output: 'table' | 'json' | 'yaml';
  runtime: 'runc' | 'crun';
  acceptGaps: boolean;
  flushTimeout: number;
  rolloutTimeout: number;
}

/** `kubectl harden record`: every selected workload of a namespace, every recorder, one recording. */
export const recordCommand: CommandModule<BaseArgs, RecordArgs> = {
  command: 'record',
  describe:
    "Record every selected workload's syscalls, connections and privileges at once; write each one's seccomp profile, NetworkPolicy and securityContext",
  builder: (y: Argv<BaseArgs>) =>
    addTimeoutFlag(
      addTimeoutFlag(
        addTimeoutFlag(
          addOutputFlag(addConnectionFlags(y, { namespaced: true }), ['table', 'json', 'yaml'], 'table'),
          'before stopping as Ctrl-C does',
          '0',
          'duration',
        ),
        "after the stop for every node's final flush",
        '60s',
        'flush-timeout',
      ),
      'for each rollout --restart starts',
      '5m',
      'rollout-timeout',
    )
      .option('selector', {
        alias: 'l',
        type: 'string',
        requiresArg: true,
        describe: "Record the workloads of the pods with these labels (kubectl's syntax)",
      })
      .option('all', { type: 'boolean', describe: 'Record every workload of the namespace' })
      .option('restart', {
        type: 'boolean',
        default: false,
        describe:
          'Once tracing is armed, roll out each selected Deployment, StatefulSet and DaemonSet (kubectl rollout restart) so every start-up is recorded',
      })
      .option('include-shutdown', {
        type: 'boolean',
        default: false,
        describe:
          'Before the recording ends, stop one pod of each workload gracefully and wait for its replacement, so its shutdown is recorded (--restart records it already)',
      })
      .option('output-dir', {
        type: 'string',
        demandOption: true,
        requiresArg: true,
        describe: 'Write the files here (a new or empty directory, or one record wrote before: it merges)',
      })
      .option('netpol-format', {
        type: 'string',
        choices: ['kubernetes', 'cilium'],
        default: 'kubernetes',
        describe: 'NetworkPolicy, or CiliumNetworkPolicy',
      })
      .option('runtime', {
        type: 'string',
        choices: ['runc', 'crun'],
        default: 'runc',
        describe: "The nodes' OCI runtime, for the post-filter syscalls added when a start was not recorded",
      })
      .option('accept-gaps', {
        type: 'boolean',
        default: false,
        describe: 'Exit 0 even when a workload was not traced for a while (each gap is named on stderr)',
      })
      .check((argv) => {
        const chosen = [argv.selector, argv.all].filter(Boolean).length;
        if (chosen !== 1)
          throw new UsageError(
            `name what to record: exactly one of -l/--selector or --all${chosen > 1 ? ' (both given)' : ''}`,
          );
        if (argv.selector !== undefined) {
          try {
            targetSelector(argv.selector);
          } catch (e) {
            throw new UsageError((e as Error).message);
          }
        }
        return true;
      })
      .example('$0 record -n web --all --restart --duration 5m --output-dir web/', '')
      .example('$0 apply -f web/', 'then put it all in force') as unknown as Argv<RecordArgs>,
  handler: async (argv) => {
    const [{ runRecord }, { collaborators }] = await Promise.all([
      import('./record-run'),
      import('./context'),
    ]);
    await runRecord(
      {
        selector: argv.selector,
        all: argv.all,
        restart: argv.restart,
        includeShutdown: argv.includeShutdown,
        durationMs: Number.isFinite(argv.duration) ? argv.duration : undefined,
        outputDir: argv.outputDir,
        netpolFormat: argv.netpolFormat,
        output: argv.output,
        runtime: argv.runtime,
        acceptGaps: argv.acceptGaps,
        startTimeoutMs: START_TIMEOUT_MS,
        flushTimeoutMs: argv.flushTimeout,
        rolloutTimeoutMs: argv.rolloutTimeout,
      },
      await collaborators(argv),
    );
  },
};
