import yargs from 'yargs/yargs';
import type { Argv } from 'yargs';
import { completionCommand } from './completion';
import { HardenError } from '../errors';
import { formatError, UsageError } from './errors';
import { addGlobalFlags, type GlobalFlags } from './flags';
import { versionCommand } from './version';
import { commands, subcommands, type AnyCommand } from './registry';

/** cobra's ShellCompDirectiveNoFileComp: kubectl should not fall back to file names. */
const NO_FILE_COMPLETION = 4;

export function buildParser(args: string[]): Argv<GlobalFlags> {
  let y = addGlobalFlags(yargs(args))
    .scriptName('kubectl harden')
    .usage(
      '$0 <command> [flags]\n\nTurn what a workload does into the seccomp profiles and NetworkPolicies that confine it.',
    )
    .command(versionCommand)
    .command(completionCommand);
  for (const c of commands) y = y.command(c);
  return y
    .demandCommand(1, 'Name a command; see kubectl harden --help.')
    .recommendCommands()
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 80))
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
}

const topLevel = () =>
  [versionCommand, completionCommand, ...commands].map((c) => String(c.command).split(' ')[0]);

// Global flags whose value is the next argument when not written as --flag=value.
const VALUE_FLAGS = new Set([
  '--kubeconfig',
  '--context',
  '--cluster',
  '--user',
  '-n',
  '--namespace',
  '--request-timeout',
  '-o',
  '--output',
  '-v',
]);

function firstVerb(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (VALUE_FLAGS.has(args[i])) i++;
    else if (!args[i].startsWith('-')) return args[i];
  }
  return undefined;
}

/** kubectl's wording for an unknown verb, keeping yargs' "Did you mean" suggestion. */
export function usageMessage(args: string[], message: string): string {
  const verb = firstVerb(args);
  if (verb && !topLevel().includes(verb)) {
    const suggestion = /Did you mean/.test(message) ? `\n${message}` : '';
    return `unknown command "${verb}" for "kubectl harden"${suggestion}`;
  }
  return message;
}

/**
 * cobra's __complete protocol (what kubectl asks kubectl_complete-harden): candidates for the last
 * word, one per line, then the directive. Walked from the registered command modules themselves,
 * since yargs' own completion stops at verb groups that demand a subcommand.
 */
export function complete(args: string[]): string {
  const word = args[args.length - 1] ?? '';
  const nameOf = (c: AnyCommand) => String(c.command).split(' ')[0];
  let level: AnyCommand[] = [versionCommand, completionCommand, ...commands];
  let current: AnyCommand | undefined;
  for (const w of args.slice(0, -1).filter((a) => !a.startsWith('-'))) {
    const c = level.find((x) => nameOf(x) === w);
    if (!c) continue; // a flag's value
    current = c;
    level = subcommands[nameOf(c)] ?? [];
  }
  let candidates: string[];
  if (word.startsWith('-')) {
    const y = addGlobalFlags(yargs([]));
    const built = typeof current?.builder === 'function' ? current.builder(y) : y;
    // getOptions() is public yargs API that its type declarations leave out.
    const keys = Object.keys((built as unknown as { getOptions(): { key: object } }).getOptions().key);
    candidates = keys.filter((k) => k.length > 1 && !/[A-Z]/.test(k)).map((k) => `--${k}`);
  } else {
    candidates = level.map(nameOf);
  }
  const matching = [...new Set(candidates)].filter(
    (c) => c.startsWith(word) && c !== '--help' && c !== '--version',
  );
  return matching.join('\n') + (matching.length ? '\n' : '') + `:${NO_FILE_COMPLETION}\n`;
}

export async function main(args: string[]): Promise<number> {
  if (args[0] === '__complete' || args[0] === '__completeNoDesc') {
    process.stdout.write(complete(args.slice(1)));
    return 0;
  }
  const verbose = args.some((a) => /^-v(=|$)|^--v(=|$)/.test(a));
  try {
    await buildParser(args).parseAsync();
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(
        `error: ${usageMessage(args, e.message)}\nSee 'kubectl harden --help' for usage.\n`,
      );
      return 1;
    }
    process.stderr.write(formatError(e, verbose) + '\n');
    return e instanceof HardenError ? e.exitCode : 1;
  }
}
