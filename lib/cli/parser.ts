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
      // A refused command line (yargs' message) is a usage error; a handler's own error passes on.
      .fail((msg, err) => {
        throw msg ? new UsageError(msg) : err;
      })
  );
}
