// What `node dist/kubectl-harden.cjs` (npm's bin) runs: the CLI bundle beside it, from the V8 code
// cache the build recorded for it (lib/code-cache.ts). The single executable embeds the CLI bundle
// itself and has a code cache of its own.
import { join } from 'node:path';
import { runCached } from '../lib/code-cache';

const cli = join(__dirname, 'kubectl-harden-cli.cjs');
// Set only by scripts/build.mjs, which runs `--help` once to record the cache.
runCached(cli, `${cli}.v8cache`, { record: process.env.HARDEN_RECORD_CODE_CACHE === '1' });
