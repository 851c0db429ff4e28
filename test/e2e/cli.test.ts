// The bundle as users run it: through a symlink named kubectl-harden, from any folder, even one
// whose nearest package.json says "type": "module" (the .cjs extension keeps it CommonJS).
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cluster';
import { runRaw } from '../support/exec';

test('a kubectl-harden symlink on PATH works from an ESM package folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'harden-esm-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'someone-elses', type: 'module' }));
  mkdirSync(join(dir, 'bin'));
  symlinkSync(join(REPO_ROOT, 'dist', 'kubectl-harden.cjs'), join(dir, 'bin', 'kubectl-harden'));
  const env = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` };
  const r = await runRaw('kubectl-harden', ['version', '--client', '-o', 'json'], { cwd: dir, env });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(r.stdout).clientVersion.version).toMatch(/^\d+\.\d+\.\d+/);
  const help = await runRaw('kubectl-harden', ['--help'], { cwd: dir, env });
  expect(help.stdout).toContain('kubectl harden seccomp');
});

test('a credential plugin that cannot run is named with its user and context, and what to do', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'harden-exec-'));
  const config = join(dir, 'config');
  writeFileSync(
    config,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: prod',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]',
      'users: [{name: sso-user, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: /nonexistent/kubelogin}}}]',
      'contexts: [{name: prod, context: {cluster: c, user: sso-user}}]',
      '',
    ].join('\n'),
  );
  const bin = join(REPO_ROOT, 'dist', 'kubectl-harden.cjs');
  const r = await runRaw(bin, ['status'], { env: { ...process.env, KUBECONFIG: config } });
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(
    'error: the credential plugin "/nonexistent/kubelogin" of user "sso-user" (context "prod") cannot run: not found (ENOENT)\n' +
      `Install it (on PATH, as kubectl would find it) or fix users[sso-user].user.exec.command in ${config}.\n`,
  );
});
