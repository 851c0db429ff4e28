import yargs from 'yargs/yargs';
import type { Argv } from 'yargs';
import { completionCommand } from './completion';
import { HardenError } from '../errors';
import { formatError, UsageError } from './errors';
import type { Runtime } from './context';
import { addGlobalFlags, type GlobalFlags } from './flags';
import { versionCommand } from './version';
import { commands, findingsCommands, subcommands, type AnyCommand } from './registry';

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

/** The words that are not global flags or their values: the verb path first. */
function words(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (VALUE_FLAGS.has(args[i])) i++;
    else if (!args[i].startsWith('-')) out.push(args[i]);
  }
  return out;
}

const firstVerb = (args: string[]): string | undefined => words(args)[0];

/** 1 for a failure, except where 1 reports findings (`netpol verify`, like diff): there failures are 2. */
export function failureCode(args: string[]): number {
  const [group, verb] = words(args);
  return findingsCommands.includes(`${group} ${verb}`) ? 2 : 1;
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

/** Runs one command line. `runtime` supplies the cluster, terminal and signals; tests pass fakes. */
export async function main(args: string[], runtime?: Runtime): Promise<number> {
  if (args[0] === '__complete' || args[0] === '__completeNoDesc') {
    process.stdout.write(complete(args.slice(1)));
    return 0;
  }
  const verbose = args.some((a) => /^-v(=|$)|^--v(=|$)/.test(a));
  try {
    // The runtime travels in the parser's context, so every handler finds it on its argv.
    await buildParser(args).parseAsync(args, runtime ? { hardenRuntime: runtime } : {});
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    const failure = failureCode(args);
    if (e instanceof UsageError) {
      process.stderr.write(
        `error: ${usageMessage(args, e.message)}\nSee 'kubectl harden --help' for usage.\n`,
      );
      return failure;
    }
    process.stderr.write(formatError(e, verbose) + '\n');
    return e instanceof HardenError ? Math.max(e.exitCode, failure) : failure;
  }
}
