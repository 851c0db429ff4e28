// The single executable's entry (scripts/release): built into a V8 start-up snapshot, so a run
// starts with every module of the CLI already loaded instead of compiling and running them.
// What runs at the top level here runs once, on the build machine (Node runs the event loop to its
// end before taking the snapshot); a run starts in the function given to
// setDeserializeMainFunction, with this process's argv, environment and terminal.
import { startupSnapshot } from 'node:v8';
import { exitQuietlyOnEpipe } from '../lib/cli/context';
import { main } from '../lib/cli/main';
import { warmUp } from '../lib/cli/warm-up';

warmUp().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});

startupSnapshot.setDeserializeMainFunction(() => {
  exitQuietlyOnEpipe();
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
});
