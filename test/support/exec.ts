// Running commands for the e2e helpers: capture both streams, fail loudly with both.
import { execFile, type ExecFileOptions } from 'node:child_process';
import { testenvEnv } from './env';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs a command to completion; never throws for a non-zero exit (see `run`). */
export function runRaw(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const options: ExecFileOptions = {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  };
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, [...args], options, (err, stdout, stderr) => {
      const out = String(stdout);
      const errOut = String(stderr);
      if (err && typeof err.code !== 'number') {
        // Spawn failure (ENOENT) or a timeout kill: there is no exit code to report.
        reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\nstdout: ${out}\nstderr: ${errOut}`));
        return;
      }
      resolve({ code: err ? Number(err.code) : 0, stdout: out, stderr: errOut });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Runs a command and throws, with stdout and stderr, unless it exits 0. */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await runRaw(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(
      `command failed (exit ${r.code}): ${cmd} ${args.join(' ')}\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`,
    );
  }
  return r.stdout;
}

/** The testenv's kubectl with the admin kubeconfig, whether or not `testenv env` was eval'ed. */
export function kubectl(args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const env = testenvEnv();
  return run('kubectl', args, { ...opts, env: { ...env.processEnv, ...opts.env } });
}

export async function kubectlJson<T = unknown>(args: readonly string[], opts: RunOptions = {}): Promise<T> {
  const out = await kubectl([...args, '-o', 'json'], opts);
  return JSON.parse(out) as T;
}
