import type { Runtime } from './context';
import { main } from './main';

/** The command lines whose start-up BENCHMARKS.md §3 budgets; they connect to no cluster. */
export const BUDGETED = [['version', '--client'], ['--help']];

/** Discards what a command writes; a command that would connect fails instead. */
const discarding: Runtime = {
  connect: () => Promise.reject(new Error('warm-up: no cluster')),
  io: () => ({
    out: () => {},
    err: () => {},
    progress: () => {},
    done: () => {},
    colour: false,
    verbosity: 0,
  }),
  interrupt: () => ({ signal: new AbortController().signal, dispose: () => {} }),
};

/**
 * Runs the budgeted command lines twice with their output discarded, so that a start-up snapshot
 * taken afterwards holds their functions compiled (`version --client` ran 2.3 ms faster in the
 * snapshot for it). yargs prints help with console.log, which is silenced meanwhile. Rejects if one
 * of them fails: a snapshot of a failed run is not one to ship.
 */
export async function warmUp(lines: string[][] = BUDGETED): Promise<void> {
  const log = console.log;
  console.log = () => {};
  try {
    for (let round = 0; round < 2; round++)
      for (const args of lines) {
        const code = await main(args, discarding);
        if (code !== 0) throw new Error(`warm-up: 'kubectl harden ${args.join(' ')}' exited ${code}`);
      }
  } finally {
    console.log = log;
  }
}
