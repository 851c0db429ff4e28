import { runAgent } from '../lib/agent/main';

runAgent(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`harden-agent: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
