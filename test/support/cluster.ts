// The testenv's fixed addresses and the CLI runner.
import * as path from 'node:path';
import { testenvEnv } from './env';
import { runRaw, type RunResult } from './exec';

export { testenvEnv, type TestenvEnv } from './env';

// A bundled copy (the demo script) sets HARDEN_REPO_ROOT, since its __dirname is elsewhere.
export const REPO_ROOT = process.env.HARDEN_REPO_ROOT ?? path.resolve(__dirname, '..', '..');
export const NODE_NAME = 'harden-node';
/** The node's InternalIPs: scripts/testenv/testenv puts them on harden0 and gives them to kubelet. */
export const NODE_IP = '10.240.0.1';
export const NODE_IP6 = 'fd00:10:240::1';

/** Runs the bundled CLI (`kubectl harden ...`) against the testenv; never throws on exit code. */
export function harden(
  args: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  const env = { ...testenvEnv().processEnv, ...opts.env };
  return runRaw(process.execPath, [path.join(REPO_ROOT, 'dist', 'kubectl-harden.cjs'), ...args], {
    input: opts.input,
    env,
    cwd: REPO_ROOT,
    timeoutMs: opts.timeoutMs ?? 180_000,
  });
}
