// deploy / undeploy / status and the CLI's errors, against the real kube-apiserver of the testenv.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump, load } from 'js-yaml';
import { harden, testenvEnv } from '../support/cluster';
import { kubectl, kubectlJson, runRaw } from '../support/exec';
import { testImage } from '../support/kube-pods';

const dir = mkdtempSync(join(tmpdir(), 'harden-e2e-deploy-'));

interface Kubeconfig {
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: Record<string, unknown> }[];
  contexts: { name: string; context: Record<string, unknown> }[];
  'current-context': string;
}

/** A kubeconfig for the testenv cluster with the given credentials, or the given server URL. */
function kubeconfigWith(name: string, user: Record<string, unknown>, server?: string): string {
  const admin = load(readFileSync(testenvEnv().kubeconfig, 'utf8')) as Kubeconfig;
  const cluster = { ...admin.clusters[0].cluster, ...(server ? { server } : {}) };
  const file = join(dir, `${name}.kubeconfig`);
  writeFileSync(
    file,
    dump({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'testenv', cluster }],
      users: [{ name, user }],
      contexts: [{ name, context: { cluster: 'testenv', user: name } }],
      'current-context': name,
    }),
  );
  return file;
}

const objects = [
  ['crd', 'tracesessions.harden.dev'],
  ['namespace', 'harden-system'],
  ['serviceaccount', 'harden-agent', '-n', 'harden-system'],
  ['clusterrole', 'harden-agent'],
  ['clusterrolebinding', 'harden-agent'],
  ['clusterrole', 'harden-tracer'],
  ['daemonset', 'harden-agent', '-n', 'harden-system'],
];

async function resourceVersions(): Promise<string[]> {
  const out: string[] = [];
  for (const o of objects) {
    const obj = await kubectlJson<{ metadata: { resourceVersion: string } }>(['get', ...o]);
    out.push(obj.metadata.resourceVersion);
  }
  return out;
}

describe('deploy', () => {
  afterAll(async () => {
    await harden(['undeploy', '--force']);
  });

  test('creates every object with server-side apply, the agent pod becomes Ready, and a second run changes nothing', async () => {
    // The image the release publishes, built here from the Dockerfile: kubelet pulls and runs it, and
    // deploy waits for its readiness probe.
    const t0 = Date.now();
    const first = await harden(['deploy', '--image', testImage('agent'), '--timeout', '180s']);
    expect({ code: first.code, stderr: first.code ? first.stderr : '' }).toEqual({ code: 0, stderr: '' });
    process.stdout.write(`deploy -> agent Ready: ${Date.now() - t0} ms\n`);
    expect(first.stdout).toContain('daemonset.apps/harden-agent serverside-applied');
    expect(first.stderr).toContain('agent ready on 1 node(s)');
    const before = await resourceVersions();
    const crd = await kubectlJson<{ metadata: { managedFields: { manager: string }[] } }>([
      'get',
      'crd',
      'tracesessions.harden.dev',
      '--show-managed-fields',
    ]);
    expect(crd.metadata.managedFields.map((f) => f.manager)).toContain('kubectl-harden');
    const second = await harden(['deploy', '--image', testImage('agent'), '--wait=false']);
    expect(second.code).toBe(0);
    expect(await resourceVersions()).toEqual(before);
  });

  test('--dry-run=client -o yaml is accepted by kubectl apply --dry-run=server', async () => {
    const printed = await harden(['deploy', '--dry-run=client', '-o', 'yaml']);
    expect(printed.code).toBe(0);
    expect(printed.stdout.match(/^kind: /gm)).toHaveLength(objects.length);
    const applied = await kubectl(
      ['apply', '--dry-run=server', '--server-side', '--field-manager=kubectl-harden', '-f', '-'],
      {
        input: printed.stdout,
      },
    );
    expect(applied).toContain('daemonset.apps/harden-agent serverside-applied (server dry run)');
  });

  test('the agent ServiceAccount may read pods and sessions but not secrets, and may not exec', async () => {
    const sa = 'system:serviceaccount:harden-system:harden-agent';
    const can = async (...args: string[]) =>
      (
        await runRaw('kubectl', ['auth', 'can-i', ...args, '--as', sa], { env: testenvEnv().processEnv })
      ).stdout.trim();
    expect(await can('list', 'pods', '-A')).toBe('yes');
    expect(await can('patch', 'tracesessions.harden.dev', '--subresource=status', '-A')).toBe('yes');
    expect(await can('get', 'secrets', '-A')).toBe('no');
    expect(await can('create', 'pods/exec', '-A')).toBe('no');
    expect(await can('patch', 'tracesessions.harden.dev', '-A')).toBe('no');
    expect(await can('delete', 'pods', '-A')).toBe('no');
    // And with the real token, not impersonation: the API server refuses.
    const token = (await kubectl(['create', 'token', 'harden-agent', '-n', 'harden-system'])).trim();
    const r = await runRaw(
      'kubectl',
      ['--kubeconfig', kubeconfigWith('agent', { token }), 'get', 'secrets', '-A'],
      {
        env: testenvEnv().processEnv,
      },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/forbidden/i);
  });

  test('status shows the node, its kernel and the agent pod', async () => {
    const r = await harden(['status', '-o', 'json']);
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout) as { nodes: { node: string; kernel: string }[] };
    expect(status.nodes.map((n) => n.node)).toContain('harden-node');
    expect(status.nodes[0].kernel).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
    const table = await harden(['status']);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^NODE\s+AGENT POD\s+READY\s+VERSION\s+KERNEL\s+BPFTRACE\s+SESSIONS$/,
    );
  });

  test('undeploy refuses while a session is active, then --force removes everything', async () => {
    await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'harden.dev/v1alpha1',
        kind: 'TraceSession',
        metadata: { name: 'sc-active', namespace: 'default', labels: { 'harden.dev/type': 'seccomp' } },
        spec: { type: 'seccomp', state: 'Running', target: { podName: 'nothing' } },
      }),
    });
    const refused = await harden(['undeploy']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('default/sc-active');
    expect(refused.stderr).toContain('--force');
    const forced = await harden(['undeploy', '--force', '--timeout', '90s']);
    expect(forced.code).toBe(0);
    for (const o of objects) {
      const r = await runRaw('kubectl', ['get', ...o], { env: testenvEnv().processEnv });
      expect(r.stderr).toMatch(/NotFound|not found/);
    }
  });
});

describe('errors a user will meet', () => {
  test('status without a deployed agent says to run deploy', async () => {
    const r = await harden(['status']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the agent is not deployed');
    expect(r.stderr).toContain('kubectl harden deploy');
  });

  test('seccomp start without a deployed agent says to run deploy, and creates nothing', async () => {
    const r = await harden(['seccomp', 'start', '-n', 'default', '-p', 'anything']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`kubectl-harden's agent is not deployed in context "harden-local"`);
    expect(r.stderr).toContain('Run: kubectl harden deploy');
  });

  test('no kubeconfig at all is an error, not a silent localhost:8080', async () => {
    const home = mkdtempSync(join(tmpdir(), 'harden-home-'));
    const r = await harden(['status'], { env: { KUBECONFIG: '', HOME: home } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no kubeconfig found');
  });

  test('an unreachable server is named by its URL', async () => {
    const kc = kubeconfigWith('unreachable', { token: 'x' }, 'https://127.0.0.1:1');
    const r = await harden(['status', '--kubeconfig', kc]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot reach the API server at https://127.0.0.1:1');
    expect(r.stderr).toContain('context "unreachable"');
  });

  test('bad credentials (401) name the user and context', async () => {
    const r = await harden(['status', '--kubeconfig', kubeconfigWith('badtoken', { token: 'not-a-token' })]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('rejected the credentials of user "badtoken"');
  });

  test('a refused request (403) names the verb and resource', async () => {
    await kubectl([
      'create',
      'serviceaccount',
      'nobody',
      '-n',
      'default',
      '--dry-run=client',
      '-o',
      'yaml',
    ]).then((y) => kubectl(['apply', '-f', '-'], { input: y }));
    const token = (await kubectl(['create', 'token', 'nobody', '-n', 'default'])).trim();
    const r = await harden(['status', '--kubeconfig', kubeconfigWith('nobody', { token })]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'forbidden: user "nobody" cannot get daemonsets.apps "harden-agent" in namespace "harden-system"',
    );
  });

  test('an unknown context lists the known ones', async () => {
    const r = await harden(['status', '--context', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('context "nope" not found');
    expect(r.stderr).toContain('Known contexts: harden-local');
  });

  test('version reports client and server', async () => {
    const r = await harden(['version', '-o', 'json']);
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout) as {
      clientVersion: { version: string };
      serverVersion: { gitVersion: string };
    };
    expect(v.serverVersion.gitVersion).toMatch(/^v1\.35\./);
    expect(v.clientVersion.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});
