import yargs from 'yargs/yargs';
import type { Argv } from 'yargs';
import { completionCommand } from './completion';
import { formatError, HardenError } from './errors';
import { addGlobalFlags, type GlobalFlags } from './flags';
import { versionCommand } from './version';
import { commands } from './registry';

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

export class UsageError extends Error {}

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

/** cobra's __complete protocol over yargs' own completion. */
async function complete(args: string[]): Promise<string> {
  const candidates = await new Promise<string[]>((resolve) => {
    buildParser([]).getCompletion(['kubectl-harden', ...args], (_err, c) => resolve([...(c ?? [])]));
  });
  const cleaned = candidates
    .map((c) => c.replace(/:.*$/, ''))
    .filter((c) => c !== '$0' && c !== '--help' && c !== '--version');
  return [...new Set(cleaned)].join('\n') + `\n:${NO_FILE_COMPLETION}\n`;
}

export async function main(args: string[]): Promise<number> {
  if (args[0] === '__complete' || args[0] === '__completeNoDesc') {
    process.stdout.write(await complete(args.slice(1)));
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
