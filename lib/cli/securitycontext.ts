import type { Argv, CommandModule } from 'yargs';
import { parseDuration } from '../duration';
import { START_TIMEOUT_MS } from '../session/timeouts';
import { addOutputFlag, type GlobalFlags } from './flags';
import { addStartFlags, addStopFlags, listCommand, type StartArgs } from './session-commands';
import type { AdviceFormat } from './securitycontext-run';

interface ShowArgs extends GlobalFlags {
  id: string;
  output: AdviceFormat;
  seccompProfile?: string;
}

interface StopArgs extends ShowArgs {
  keep: boolean;
  acceptGaps: boolean;
  timeout: string;
}

const ADVICE_FORMATS: readonly AdviceFormat[] = ['yaml', 'json', 'patch'];

const adviceFlags = <T>(y: Argv<T>) =>
  addOutputFlag(y, ADVICE_FORMATS, 'yaml').option('seccomp-profile', {
    type: 'string',
    describe: 'Advise seccompProfile Localhost with this profile (a path under kubelet’s seccomp root)',
  });

const start: CommandModule<GlobalFlags, StartArgs> = {
  command: 'start',
  describe:
    'Start recording what a pod (or the pods a selector matches) does with its privileges; prints the session id',
  builder: (y: Argv<GlobalFlags>) =>
    addStartFlags(y).example(
      '$0 securitycontext start -n web -l app=nginx',
      '',
    ) as unknown as Argv<StartArgs>,
  handler: async (argv) => {
    const timeoutMs = parseDuration(argv.timeout) ?? START_TIMEOUT_MS;
    const [{ runScStart }, { collaborators }] = await Promise.all([
      import('./securitycontext-run'),
      import('./context'),
    ]);
    await runScStart(
      { pod: argv.pod, selector: argv.selector, container: argv.container, name: argv.name, timeoutMs },
      await collaborators(argv),
    );
  },
};

const stop: CommandModule<GlobalFlags, StopArgs> = {
  command: 'stop <id>',
  describe: 'Stop a session, wait for the final flush and print the securityContext advice',
  builder: (y: Argv<GlobalFlags>) =>
    adviceFlags(addStopFlags(y, 'securitycontext', 'the advice')) as unknown as Argv<StopArgs>,
  handler: async (argv) => {
    const timeoutMs = parseDuration(argv.timeout) ?? 60_000;
    const [{ runScStop }, { collaborators }] = await Promise.all([
      import('./securitycontext-run'),
      import('./context'),
    ]);
    await runScStop(
      {
        id: argv.id,
        output: argv.output,
        seccompProfile: argv.seccompProfile,
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
  describe: 'Print the advice from what was recorded so far, without stopping the session',
  builder: (y: Argv<GlobalFlags>) =>
    adviceFlags(y.positional('id', { type: 'string', demandOption: true })) as unknown as Argv<ShowArgs>,
  handler: async (argv) => {
    const [{ runScShow }, { collaborators }] = await Promise.all([
      import('./securitycontext-run'),
      import('./context'),
    ]);
    await runScShow(
      { id: argv.id, output: argv.output, seccompProfile: argv.seccompProfile },
      await collaborators(argv),
    );
  },
};

/** The verbs under `securitycontext` (alias `sc`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each subcommand has its own argument type
export const securityContextSubcommands: CommandModule<GlobalFlags, any>[] = [
  start,
  stop,
  show,
  listCommand('capabilities', 'securitycontext'),
];

export const securityContextCommand: CommandModule<GlobalFlags, GlobalFlags> = {
  command: 'securitycontext <command>',
  aliases: ['sc'],
  describe: 'Record what a workload does with its privileges and advise the least-privilege securityContext',
  builder: (y: Argv<GlobalFlags>) =>
    securityContextSubcommands
      .reduce((acc, c) => acc.command(c), y)
      .demandCommand(1, 'Name a securitycontext command.'),
  handler: () => undefined,
};
