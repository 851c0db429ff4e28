import type { Argv, CommandModule } from 'yargs';
import { parseDuration } from '../duration';
import { START_TIMEOUT_MS } from '../session/timeouts';
import { addOutputFlag, type GlobalFlags } from './flags';
import { addStartFlags, addStopFlags, listCommand, type StartArgs } from './session-commands';
import type { ProfileFormat } from './seccomp-run';

interface ShowArgs extends GlobalFlags {
  id: string;
  output: ProfileFormat;
  outputDir?: string;
  runtime: 'runc' | 'crun';
}

interface StopArgs extends ShowArgs {
  keep: boolean;
  timeout: string;
  acceptGaps: boolean;
}

const PROFILE_FORMATS: readonly ProfileFormat[] = ['json', 'crd'];

const profileFlags = <T>(y: Argv<T>) =>
  addOutputFlag(y, PROFILE_FORMATS, 'json')
    .option('output-dir', {
      type: 'string',
      describe: 'Write <namespace>-<workload>-<container>.json (.yaml with -o crd) per container here',
    })
    .option('runtime', {
      type: 'string',
      choices: ['runc', 'crun'],
      default: 'runc',
      describe: "The nodes' OCI runtime, for the post-filter syscalls added when a start was not recorded",
    });

const start: CommandModule<GlobalFlags, StartArgs> = {
  command: 'start',
  describe:
    'Start recording the syscalls of a pod (or of the pods a selector matches); prints the session id',
  builder: (y: Argv<GlobalFlags>) =>
    addStartFlags(y).example('$0 seccomp start -n web -p nginx-7c9', '') as unknown as Argv<StartArgs>,
  handler: async (argv) => {
    const timeoutMs = parseDuration(argv.timeout) ?? START_TIMEOUT_MS;
    const [{ runStart }, { collaborators }] = await Promise.all([
      import('./seccomp-run'),
      import('./context'),
    ]);
    await runStart(
      { pod: argv.pod, selector: argv.selector, container: argv.container, name: argv.name, timeoutMs },
      await collaborators(argv),
    );
  },
};

const stop: CommandModule<GlobalFlags, StopArgs> = {
  command: 'stop <id>',
  describe: 'Stop a session, wait for the final flush and print the seccomp profile(s)',
  builder: (y: Argv<GlobalFlags>) =>
    profileFlags(addStopFlags(y, 'seccomp', 'the profile')) as unknown as Argv<StopArgs>,
  handler: async (argv) => {
    const timeoutMs = parseDuration(argv.timeout) ?? 60_000;
    const [{ runStop }, { collaborators }] = await Promise.all([
      import('./seccomp-run'),
      import('./context'),
    ]);
    await runStop(
      {
        id: argv.id,
        output: argv.output,
        outputDir: argv.outputDir,
        runtime: argv.runtime,
        keep: argv.keep,
        acceptGaps: argv.acceptGaps,
        timeoutMs,
      },
      await collaborators(argv),
    );
  },
};

const show: CommandModule<GlobalFlags, ShowArgs> = {
  command: 'show <id>',
  describe: 'Print the profile recorded so far, without stopping the session',
  builder: (y: Argv<GlobalFlags>) =>
    profileFlags(y.positional('id', { type: 'string', demandOption: true })) as unknown as Argv<ShowArgs>,
  handler: async (argv) => {
    const [{ runShow }, { collaborators }] = await Promise.all([
      import('./seccomp-run'),
      import('./context'),
    ]);
    await runShow(
      { id: argv.id, output: argv.output, outputDir: argv.outputDir, runtime: argv.runtime },
      await collaborators(argv),
    );
  },
};

/** The verbs under `seccomp`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each subcommand has its own argument type
export const seccompSubcommands: CommandModule<GlobalFlags, any>[] = [
  start,
  stop,
  show,
  listCommand('seccomp', 'seccomp'),
];

export const seccompCommand: CommandModule<GlobalFlags, GlobalFlags> = {
  command: 'seccomp <command>',
  describe: 'Record syscalls and turn them into seccomp profiles',
  builder: (y: Argv<GlobalFlags>) =>
    seccompSubcommands.reduce((acc, c) => acc.command(c), y).demandCommand(1, 'Name a seccomp command.'),
  handler: () => undefined,
};
