import type { Argv, CommandModule } from 'yargs';
import { parseDuration } from '../duration';
import { addAllNamespacesFlag, addOutputFlag, addTargetFlags, type GlobalFlags } from './flags';
import type { ProfileFormat } from './seccomp-run';

interface StartArgs extends GlobalFlags {
  pod?: string;
  selector?: string;
  container?: string[];
  name?: string;
  timeout: string;
}

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
    addTargetFlags(y, 'trace')
      .option('container', {
        alias: 'c',
        type: 'string',
        array: true,
        describe: 'Only these containers (repeatable)',
      })
      .option('name', { type: 'string', describe: 'Session id to use (default: generated)' })
      .option('timeout', {
        type: 'string',
        default: '30s',
        describe: 'How long to wait for the agents to start tracing',
      })
      .example('$0 seccomp start -n web -p nginx-7c9', '') as unknown as Argv<StartArgs>,
  handler: async (argv) => {
    const timeoutMs = parseDuration(argv.timeout) ?? 30_000;
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
    profileFlags(
      y
        .positional('id', { type: 'string', demandOption: true, describe: 'Session id (from seccomp start)' })
        .option('keep', { type: 'boolean', default: false, describe: 'Keep the session object afterwards' })
        .option('timeout', {
          type: 'string',
          default: '60s',
          describe: "How long to wait for the agents' final flush",
        })
        .option('accept-gaps', {
          type: 'boolean',
          default: false,
          describe:
            'Print the profile even if a target was not traced for a while (each gap is named on stderr)',
        }),
    ) as unknown as Argv<StopArgs>,
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

const list: CommandModule<GlobalFlags, GlobalFlags & { allNamespaces?: boolean; output: string }> = {
  command: 'list',
  describe: 'List seccomp sessions (-A: in every namespace)',
  builder: (y: Argv<GlobalFlags>) =>
    addOutputFlag(addAllNamespacesFlag(y), ['table', 'json', 'yaml'], 'table'),
  handler: async (argv) => {
    const [{ runList }, { collaborators }] = await Promise.all([
      import('./session-list'),
      import('./context'),
    ]);
    await runList(
      {
        type: 'seccomp',
        allNamespaces: argv.allNamespaces ?? false,
        output: argv.output as 'table' | 'json' | 'yaml',
      },
      await collaborators(argv),
    );
  },
};

/** The verbs under `seccomp`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each subcommand has its own argument type
export const seccompSubcommands: CommandModule<GlobalFlags, any>[] = [start, stop, show, list];

export const seccompCommand: CommandModule<GlobalFlags, GlobalFlags> = {
  command: 'seccomp <command>',
  describe: 'Record syscalls and turn them into seccomp profiles',
  builder: (y: Argv<GlobalFlags>) =>
    seccompSubcommands.reduce((acc, c) => acc.command(c), y).demandCommand(1, 'Name a seccomp command.'),
  handler: () => undefined,
};
