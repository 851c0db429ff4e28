// `kubectl harden netpol monitor` as a background process, the way an operator runs it: started,
// awaited until its session is tracing, ended with Ctrl-C (SIGINT) or by its own --timeout.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT } from './cluster';
import { testenvEnv } from './env';
import { eventually } from './eventually';

export interface Monitor {
  /** Resolves once the monitor says it is monitoring (its session traces); rejects after 30 s. */
  started: Promise<void>;
  /** Resolves with the exit code when the monitor ends by itself. */
  exited: Promise<number>;
  /** Ctrl-C, then the exit code and everything it wrote to stderr. */
  stop(): Promise<{ code: number; stderr: string }>;
}

export function startMonitor(args: string[], opts: { echo?: boolean } = {}): Monitor {
  const child = spawn(
    process.execPath,
    [path.join(REPO_ROOT, 'dist', 'kubectl-harden.cjs'), 'netpol', 'monitor', ...args],
    {
      env: testenvEnv().processEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (opts.echo) process.stderr.write(d);
  });
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  const started = eventually(
    async () => stderr,
    (text) => text.includes('monitoring'),
    { what: 'netpol monitor started', withinMs: 30_000 },
  ).then(() => undefined);
  return {
    started,
    exited,
    stop: async () => {
      child.kill('SIGINT');
      return { code: await exited, stderr };
    },
  };
}
