// The testenv's fixed addresses and the CLI runner.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { testenvEnv } from './env';
import { eventually } from './eventually';
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

/**
 * `kubectl harden record … --restart` in the background: once it has rolled every selected
 * workload out under trace, `exercise` runs while it still records; then its exit.
 */
export async function recordExercised(
  args: readonly string[],
  exercise: () => Promise<void>,
): Promise<RunResult> {
  const cli = path.join(REPO_ROOT, 'dist', 'kubectl-harden.cjs');
  const child = spawn(process.execPath, [cli, 'record', ...args], {
    env: testenvEnv().processEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  await eventually(
    async () => stderr,
    (t) => t.includes('rolled out:') || /^error/m.test(t),
    { what: 'record to restart every workload under trace', withinMs: 300_000 },
  );
  if (!/^error/m.test(stderr)) await exercise();
  const code = await exited;
  return { code, stdout, stderr };
}
