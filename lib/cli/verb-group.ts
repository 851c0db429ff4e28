import type { Argv, CommandModule } from 'yargs';
import { UsageError, unknownCommand } from './errors';
import type { BaseArgs } from './flags';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each verb has its own argument type
export type AnyCommand = CommandModule<BaseArgs, any>;

export const nameOf = (c: AnyCommand): string => String(c.command).split(' ')[0];

/** "a, b or c" */
export const orList = (names: readonly string[]): string =>
  names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;

/**
 * The command line's first words, resolved by yargs: a verb group is a command whose subcommands
 * are its verbs. Run bare or with a verb it lacks, its handler (yargs reaches it only then) says so
 * in its own words, naming its verbs, as kubectl's groups do. `path`: how the user typed its name.
 */
function fallback(path: string, what: string, verbs: readonly AnyCommand[]) {
  const names = verbs.map(nameOf);
  return (argv: Record<string, unknown>) => {
    if (typeof argv.command !== 'string') throw new UsageError(`name ${what}: ${orList(names)}`, path);
    throw unknownCommand(argv.command, path, names);
  };
}

export function verbGroup(group: {
  name: string;
  aliases?: string[];
  describe: string;
  verbs: AnyCommand[];
}): AnyCommand {
  const path = `kubectl harden ${group.name}`;
  return {
    command: `${group.name} [command]`,
    aliases: group.aliases,
    describe: group.describe,
    builder: (y: Argv<BaseArgs>) => group.verbs.reduce((acc, c) => acc.command(c), y),
    handler: fallback(path, `a ${group.name} command`, group.verbs),
  };
}

/** The top level's own fallback: an unknown first word is an unknown command of kubectl harden. */
export function topLevelFallback(verbs: readonly AnyCommand[]): AnyCommand {
  return {
    command: '$0 [command]',
    describe: false,
    handler: fallback('kubectl harden', 'a command', verbs),
  };
}
