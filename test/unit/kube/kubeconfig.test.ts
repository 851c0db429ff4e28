import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { resolveContext } from '../../../lib/kube/kubeconfig';
import { HardenError } from '../../../lib/errors';

const dir = mkdtempSync(join(tmpdir(), 'harden-kc-'));

function kubeconfig(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

const a = kubeconfig(
  'a.yaml',
  `apiVersion: v1
kind: Config
current-context: alpha
clusters:
- name: c1
  cluster: {server: https://a.example:6443, certificate-authority: ca.crt}
users:
- name: u1
  user: {token: aaa}
contexts:
- name: alpha
  context: {cluster: c1, user: u1, namespace: web}
- name: shared
  context: {cluster: c1, user: u1}
`,
);
const b = kubeconfig(
  'b.yaml',
  `apiVersion: v1
kind: Config
current-context: beta
clusters:
- name: c1
  cluster: {server: https://b-should-lose.example}
- name: c2
  cluster: {server: https://b.example}
users:
- name: u2
  user: {token: bbb}
contexts:
- name: beta
  context: {cluster: c2, user: u2}
- name: shared
  context: {cluster: c2, user: u2, namespace: loses}
`,
);

function errorOf(fn: () => unknown): HardenError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(HardenError);
    return e as HardenError;
  }
  throw new Error('expected an error');
}

describe('kubeconfig resolution', () => {
  test('--kubeconfig wins over KUBECONFIG and names the context, cluster, user and namespace', () => {
    const r = resolveContext({ kubeconfig: a }, { KUBECONFIG: b });
    expect(r).toMatchObject({
      context: 'alpha',
      cluster: 'c1',
      user: 'u1',
      namespace: 'web',
      server: 'https://a.example:6443',
    });
    expect(r.files).toEqual([a]);
  });

  test('relative certificate paths are resolved against the file that holds them', () => {
    const r = resolveContext({ kubeconfig: a }, {});
    expect(r.merged.clusters?.[0].cluster?.['certificate-authority']).toBe(join(dir, 'ca.crt'));
  });

  test("an exec plugin named by a relative path runs from the kubeconfig's directory; a bare name is looked up on PATH", () => {
    const file = kubeconfig(
      'exec.yaml',
      `current-context: x
clusters: [{name: c, cluster: {server: https://x.example}}]
users:
- {name: local, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: bin/get-token, interactiveMode: Never}}}
- {name: onpath, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: aws, interactiveMode: Never}}}
contexts: [{name: x, context: {cluster: c, user: local}}]
`,
    );
    const users = resolveContext({ kubeconfig: file }, {}).merged.users ?? [];
    const command = (name: string) =>
      (users.find((u) => u.name === name)?.user?.exec as { command?: string } | undefined)?.command;
    expect(command('local')).toBe(join(dir, 'bin', 'get-token'));
    expect(command('onpath')).toBe('aws');
  });

  test('several files in KUBECONFIG: the first file wins for current-context and for each name', () => {
    const r = resolveContext({}, { KUBECONFIG: [b, a].join(delimiter) });
    expect(r.context).toBe('beta');
    expect(r.server).toBe('https://b.example');
    const shared = resolveContext({ context: 'shared' }, { KUBECONFIG: [a, b].join(delimiter) });
    expect(shared).toMatchObject({ cluster: 'c1', namespace: 'default', server: 'https://a.example:6443' });
    // With b.yaml first, its own c1 entry shadows a.yaml's, even for a context defined in a.yaml.
    const c1 = resolveContext({ context: 'alpha' }, { KUBECONFIG: [b, a].join(delimiter) });
    expect(c1.server).toBe('https://b-should-lose.example');
  });

  test('missing files in KUBECONFIG are skipped, as kubectl does', () => {
    const r = resolveContext({}, { KUBECONFIG: [join(dir, 'nope.yaml'), a].join(delimiter) });
    expect(r.context).toBe('alpha');
  });

  test('-n overrides the context namespace; without either it is default', () => {
    expect(resolveContext({ kubeconfig: a, namespace: 'other' }, {}).namespace).toBe('other');
    expect(resolveContext({ kubeconfig: b }, {}).namespace).toBe('default');
  });

  test('--cluster and --user override the context', () => {
    const r = resolveContext(
      { context: 'beta', cluster: 'c1', user: 'u1' },
      { KUBECONFIG: [a, b].join(delimiter) },
    );
    expect(r).toMatchObject({ cluster: 'c1', user: 'u1', server: 'https://a.example:6443' });
  });

  test('no kubeconfig at all is an error, never a silent localhost:8080', () => {
    const home = mkdtempSync(join(tmpdir(), 'harden-home-'));
    const e = errorOf(() => resolveContext({}, {}, home));
    expect(e.message).toContain('no kubeconfig found');
    expect(e.message).toContain(join(home, '.kube', 'config'));
    expect(e.hint).toContain('localhost:8080');
  });

  test('~/.kube/config is read when nothing else is set', () => {
    const home = mkdtempSync(join(tmpdir(), 'harden-home-'));
    mkdirSync(join(home, '.kube'));
    writeFileSync(join(home, '.kube', 'config'), readFileSync(b, 'utf8'));
    expect(resolveContext({}, {}, home).context).toBe('beta');
  });

  test('--kubeconfig naming a missing file is an error', () => {
    expect(errorOf(() => resolveContext({ kubeconfig: join(dir, 'missing') }, {})).message).toContain(
      'does not exist',
    );
  });

  test('an unknown context lists the known ones', () => {
    const e = errorOf(() => resolveContext({ context: 'gamma' }, { KUBECONFIG: [a, b].join(delimiter) }));
    expect(e.message).toContain('context "gamma" not found');
    expect(e.hint).toBe('Known contexts: alpha, beta, shared.');
  });

  test('a missing cluster or user, or a cluster without a server, is named with what to do', () => {
    const broken = kubeconfig(
      'broken.yaml',
      `current-context: x
clusters: [{name: c, cluster: {server: https://x.example}}, {name: noserver, cluster: {}}]
users: [{name: u, user: {token: t}}]
contexts:
- {name: x, context: {cluster: c, user: gone}}
- {name: y, context: {cluster: noserver, user: u}}
`,
    );
    const user = errorOf(() => resolveContext({ kubeconfig: broken }, {}));
    expect(user.message).toBe(`user "gone" of context "x" not found in ${broken}`);
    expect(user.hint).toBe('Known users: u. Fix the context, or pass --user.');
    const flag = errorOf(() => resolveContext({ kubeconfig: broken, cluster: 'nope' }, {}));
    expect(flag.message).toBe(`cluster "nope" (from --cluster, context "x") not found in ${broken}`);
    expect(flag.hint).toBe('Known clusters: c, noserver.');
    const userFlag = errorOf(() => resolveContext({ kubeconfig: broken, user: 'nope' }, {}));
    expect(userFlag.message).toBe(`user "nope" (from --user, context "x") not found in ${broken}`);
    const server = errorOf(() => resolveContext({ kubeconfig: broken, context: 'y' }, {}));
    expect(server.message).toBe(`cluster "noserver" of context "y" has no server URL`);
    expect(server.hint).toBe(
      `Set clusters[noserver].cluster.server in ${broken}, or choose another --context.`,
    );
  });

  test('a file that is not YAML is named in the error', () => {
    const bad = kubeconfig('bad.yaml', 'clusters: [unclosed');
    expect(errorOf(() => resolveContext({ kubeconfig: bad }, {})).message).toContain(bad);
  });

  test('no current context asks for --context', () => {
    const none = kubeconfig('none.yaml', 'contexts:\n- name: x\n  context: {cluster: c}\n');
    const e = errorOf(() => resolveContext({ kubeconfig: none }, {}));
    expect(e.message).toContain('no current context');
    expect(e.hint).toContain('known contexts: x');
  });
});
