import yargs from 'yargs/yargs';
import type { Argv } from 'yargs';
import type { Invocation } from './invocation';
import { UsageError } from './errors';
import { addVerbosityFlag, type BaseArgs } from './flags';
import { commands } from './registry';
import { topLevelFallback } from './verb-group';

/**
 * The command line as yargs resolves it: every verb group and verb registered explicitly (a
 * commandDir scan does not survive bundling), aliases as aliases, flags checked before any
 * handler runs. `invocation` travels to every handler in the parser's context.
 */
export function buildParser(args: string[], invocation?: Invocation): Argv<BaseArgs> {
  let y = addVerbosityFlag(yargs(args))
    .scriptName('kubectl harden')
    .usage(
      '$0 <command> [flags]\n\n' +
        'Turn what a workload does into the seccomp profiles, NetworkPolicies and securityContext that confine it.',
    );
  for (const c of commands) y = y.command(c);
  return (
    y
      .command(topLevelFallback(commands))
      .strict()
      .help()
      .alias('h', 'help')
      .version(false)
      .wrap(Math.min(110, process.stdout.columns || 80))
      .exitProcess(false)
      // -v, once parsed, for how main() reports a failure (middleware runs before any handler).
      .middleware((argv) => {
        if (invocation) invocation.verbosity = argv.v ?? 0;
      }, true)
      // A refused command line (yargs' message) is a usage error, pointing at the help of the verb
      // it was refused for; a handler's own error passes on.
      .fail((msg, err, usage) => {
        throw msg ? new UsageError(msg, helpPath(usage)) : err;
      })
  );
}

/**
 * The command a failure happened in, as its help names it ("kubectl harden seccomp stop"): yargs
 * hands its fail handler the usage of that command's context, whose first line is the command.
 */
function helpPath(usage: unknown): string {
  const line = (usage as { getUsage?: () => [string, string][] }).getUsage?.()[0]?.[0] ?? '$0';
  const words: string[] = [];
  for (const w of line.split(/\s+/)) {
    if (!w || /^[[<]/.test(w)) break; // the positionals start
    words.push(w);
  }
  return words.join(' ').replace('$0', 'kubectl harden');
}
