import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HardenError } from '../../../lib/errors';
import { explainingCredentials } from '../../../lib/kube/client';
import { resolveContext, type ResolvedContext } from '../../../lib/kube/kubeconfig';

const dir = mkdtempSync(join(tmpdir(), 'harden-exec-'));

/** A context whose user gets its token from an exec credential plugin. */
function contextWith(command: string): ResolvedContext {
  const file = join(dir, 'config');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: c
  cluster: {server: 'https://127.0.0.1:1'}
users:
- name: sso-user
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: '${command}', args: [get-token]}
contexts:
- name: prod
  context: {cluster: c, user: sso-user}
`,
  );
  return resolveContext({ kubeconfig: file });
}

/**
 * What @kubernetes/client-node's ExecAuth does (its ESM cannot load under jest; the e2e suite runs
 * the real one): spawn the command, reject with the spawn error, or with its stderr on a failure.
 */
const clientNodeExec = (command: string) => (): Promise<void> =>
  new Promise((resolve, reject) => {
    let stderr = '';
    let spawnError: Error | undefined;
    const child = spawn(command, ['get-token']);
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('error', (e) => (spawnError = e));
    child.on('close', (code) =>
      spawnError ? reject(spawnError) : code ? reject(new Error(stderr)) : resolve(),
    );
  });

async function failure(command: string): Promise<HardenError> {
  const authenticate = explainingCredentials(contextWith(command), clientNodeExec(command));
  const e = await authenticate({}).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(HardenError);
  return e as HardenError;
}

describe('a failing exec credential plugin', () => {
  test('that is missing is named with its user, context and what to do', async () => {
    const e = await failure('/nonexistent/kubelogin');
    expect(e.message).toBe(
      'the credential plugin "/nonexistent/kubelogin" of user "sso-user" (context "prod") cannot run: not found (ENOENT)',
    );
    expect(e.hint).toBe(
      `Install it (on PATH, as kubectl would find it) or fix users[sso-user].user.exec.command in ${join(dir, 'config')}.`,
    );
  });

  test('that fails says what it printed, and how to see more', async () => {
    const plugin = join(dir, 'failing-plugin');
    writeFileSync(plugin, '#!/bin/sh\necho "token expired, run: sso login" >&2\nexit 1\n');
    chmodSync(plugin, 0o755);
    const e = await failure(plugin);
    expect(e.message).toBe(
      `the credential plugin "${plugin}" of user "sso-user" (context "prod") failed: token expired, run: sso login`,
    );
    expect(e.hint).toBe(`Run it by hand to see why: ${plugin} get-token (then log in again as it asks).`);
  });
});
