import { HardenError } from '../errors';
import type { Runtime } from './context';
import { newInvocation } from './invocation';
import { formatError } from './errors';
import { DEBUG_LEVEL } from './flags';
import { buildParser } from './parser';

/**
 * Runs one command line and returns its exit code. `runtime` supplies the cluster, terminal and
 * signals; tests pass fakes. kubectl's plugin completion (`__complete`, cobra's protocol) is
 * answered by lib/cli/complete.
 */
export async function main(args: string[], runtime?: Runtime): Promise<number> {
  if (args[0] === '__complete' || args[0] === '__completeNoDesc') {
    const { complete } = await import('./complete');
    process.stdout.write(await complete(args.slice(1)));
    return 0;
  }
  const invocation = newInvocation(runtime);
  try {
    await buildParser(args, invocation).parseAsync(args, { harden: invocation });
    return invocation.exitCode;
  } catch (e) {
    process.stderr.write(formatError(e, invocation.verbosity >= DEBUG_LEVEL) + '\n');
    return e instanceof HardenError ? Math.max(e.exitCode, invocation.failureCode) : invocation.failureCode;
  }
}
