/**
 * Command-module pieces every recording verb group (seccomp, securitycontext) shares: the flags of
 * `start` and `stop`, and the `list` verb. Light: nothing heavy is imported until a handler runs.
 */
import type { Argv, CommandModule } from 'yargs';
import { START_TIMEOUT } from '../session/timeouts';
import type { SessionType } from '../session/types';
import { addAllNamespacesFlag, addOutputFlag, addTargetFlags, type GlobalFlags } from './flags';

export interface StartArgs extends GlobalFlags {
  pod?: string;
  selector?: string;
  container?: string[];
  name?: string;
  timeout: string;
}

/** -p/-l, -c, --name and --timeout of a `start`. */
export function addStartFlags<T>(y: Argv<T>): Argv<T & StartArgs> {
  return addTargetFlags(y, 'trace')
    .option('container', {
      alias: 'c',
      type: 'string',
      array: true,
      describe: 'Only these containers (repeatable)',
    })
    .option('name', { type: 'string', describe: 'Session id to use (default: generated)' })
    .option('timeout', {
      type: 'string',
      default: START_TIMEOUT,
      describe: 'How long to wait for the agents to start tracing',
    }) as unknown as Argv<T & StartArgs>;
}

type StopFlags = { id: string; keep: boolean; timeout: string; acceptGaps: boolean };

/**
 * The id, --keep, --timeout and --accept-gaps of a `stop <id>` (`group`: the verb group, and
 * `result`: what it prints, for the help).
 */
export function addStopFlags<T>(y: Argv<T>, group: string, result: string): Argv<T & StopFlags> {
  return y
    .positional('id', { type: 'string', demandOption: true, describe: `Session id (from ${group} start)` })
    .option('keep', { type: 'boolean', default: false, describe: 'Keep the session object afterwards' })
    .option('timeout', {
      type: 'string',
      default: '60s',
      describe: "How long to wait for the agents' final flush",
    })
    .option('accept-gaps', {
      type: 'boolean',
      default: false,
      describe: `Print ${result} even if a target was not traced for a while (each gap is named on stderr)`,
    }) as unknown as Argv<T & StopFlags>;
}

/** `<group> list`: the sessions of one type, as a table, JSON or YAML. */
export function listCommand(
  type: SessionType,
  group: string,
): CommandModule<GlobalFlags, GlobalFlags & { allNamespaces?: boolean; output: string }> {
  return {
    command: 'list',
    describe: `List ${group} sessions (-A: in every namespace)`,
    builder: (y: Argv<GlobalFlags>) =>
      addOutputFlag(addAllNamespacesFlag(y), ['table', 'json', 'yaml'], 'table'),
    handler: async (argv) => {
      const [{ runList }, { collaborators }] = await Promise.all([
        import('./session-list'),
        import('./context'),
      ]);
      await runList(
        {
          type,
          allNamespaces: argv.allNamespaces ?? false,
          output: argv.output as 'table' | 'json' | 'yaml',
        },
        await collaborators(argv),
      );
    },
  };
}
