// deploy / undeploy / status and the CLI's errors on the test node: `deploy --image` from the local
// registry, the DaemonSet pod kubelet runs and its readiness probe, the faults an operator meets.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump, load } from 'js-yaml';
import { AGENT_NAMESPACE, agentPod, getAgentPods, patchAgentTemplate } from '../support/agent-pod';
import { harden, testenvEnv } from '../support/cluster';
import { kubectl, kubectlJson, runRaw } from '../support/exec';
import { eventually } from '../support/eventually';
import { deleteNamespace, execInKubePod, runKubePod, testImage } from '../support/kube-pods';
import { traceRecord } from '../../lib/session/trace-records';

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
  ['crd', 'tracerecords.harden.dev'],
  ['crd', 'seccompprofileinstalls.harden.dev'],
  ['namespace', 'harden-system'],
  ['serviceaccount', 'harden-agent', '-n', 'harden-system'],
  ['clusterrole', 'harden-agent'],
  ['clusterrolebinding', 'harden-agent'],
  ['role', 'harden-agent', '-n', 'harden-system'],
  ['rolebinding', 'harden-agent', '-n', 'harden-system'],
  ['clusterrole', 'harden-tracer'],
  ['daemonset', 'harden-agent', '-n', 'harden-system'],
];
// Also applied (before the DaemonSet); the API server's type checker writes their status on its
// own, so they are left out of the resource versions a second deploy must not change.
const policies = [
  ['validatingadmissionpolicy', 'harden-agent-own-node'],
  ['validatingadmissionpolicybinding', 'harden-agent-own-node'],
];

async function resourceVersions(): Promise<string[]> {
  const out: string[] = [];
  for (const o of objects) {
    const obj = await kubectlJson<{ metadata: { resourceVersion: string } }>(['get', ...o]);
    out.push(obj.metadata.resourceVersion);
  }
  return out;
}

const NS = 'e2e-deploy';
const MISSING = '127.0.0.1:5000/does-not-exist:1';
let wasDeployed = false;

const agentImage = async () =>
  (
    await kubectlJson<{ spec: { template: { spec: { containers: { image: string }[] } } } }>([
      'get',
      'daemonset',
      'harden-agent',
      '-n',
      AGENT_NAMESPACE,
    ])
  ).spec.template.spec.containers[0].image;

beforeAll(async () => {
  wasDeployed = (await harden(['status'])).code === 0;
});

afterAll(async () => {
  await deleteNamespace(NS).catch(() => undefined);
  // As found: the agent deployed (from this tree's image) if it was, not deployed otherwise.
  if (wasDeployed) await harden(['deploy', '--image', testImage('agent'), '--timeout', '180s']);
  else await harden(['undeploy', '--force']);
}, 300_000);

describe('deploy', () => {
  test('deploy --image: kubelet runs the agent pod from the image, Ready through its probe; a second run changes nothing', async () => {
    const image = testImage('agent');
    const t0 = process.hrtime.bigint();
    const first = await harden(['deploy', '--image', image, '--timeout', '180s']);
    const readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
    expect({ code: first.code, stderr: first.code ? first.stderr : '' }).toEqual({ code: 0, stderr: '' });
    process.stdout.write(`deploy --image ${image} -> agent Ready: ${readyMs.toFixed(0)} ms\n`);
    expect(first.stdout).toContain('daemonset.apps/harden-agent serverside-applied');
    expect(first.stderr).toContain('agent ready on 1 node(s)');
    const pod = await agentPod();
    expect(pod.spec.nodeName).toBe('harden-node');
    expect(pod.spec.containers[0].image).toBe(image);
    expect(pod.status.containerStatuses?.[0]).toMatchObject({ name: 'agent', ready: true, restartCount: 0 });
    const crd = await kubectlJson<{ metadata: { managedFields: { manager: string }[] } }>([
      'get',
      'crd',
      'tracesessions.harden.dev',
      '--show-managed-fields',
    ]);
    expect(crd.metadata.managedFields.map((f) => f.manager)).toContain('kubectl-harden');
    // The DaemonSet's status moves on its own; its spec (generation) and its pod must not.
    const before = await resourceVersions();
    const generation = async () =>
      (await kubectlJson<{ metadata: { generation: number } }>(['get', ...objects[objects.length - 1]]))
        .metadata.generation;
    const gen = await generation();
    const second = await harden(['deploy', '--image', image, '--timeout', '60s']);
    expect(second.code).toBe(0);
    expect((await resourceVersions()).slice(0, -1)).toEqual(before.slice(0, -1));
    expect(await generation()).toBe(gen);
    expect((await getAgentPods()).map((p) => p.metadata.uid)).toEqual([pod.metadata.uid]);
  });

  test('--dry-run=client -o yaml is accepted by kubectl apply --dry-run=server', async () => {
    const printed = await harden(['deploy', '--dry-run=client', '-o', 'yaml']);
    expect(printed.code).toBe(0);
    expect(printed.stdout.match(/^kind: /gm)).toHaveLength(objects.length + policies.length);
    const applied = await kubectl(
      ['apply', '--dry-run=server', '--server-side', '--field-manager=kubectl-harden', '-f', '-'],
      {
        input: printed.stdout,
      },
    );
    expect(applied).toContain('daemonset.apps/harden-agent serverside-applied (server dry run)');
  });

  test("the agent pod's own ServiceAccount token may read pods and sessions but not secrets, and may not exec", async () => {
    const pod = await agentPod();
    expect(pod.spec).toMatchObject({ serviceAccountName: 'harden-agent' });
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
    // Its own records: written by apply, deleted with their session by the garbage collector.
    expect(await can('patch', 'tracerecords.harden.dev', '-A')).toBe('yes');
    expect(await can('create', 'tracerecords.harden.dev', '-A')).toBe('yes');
    expect(await can('delete', 'tracerecords.harden.dev', '-A')).toBe('no');
    // Installs: read them and report per node, never write what they hold.
    expect(await can('patch', 'seccompprofileinstalls.harden.dev', '--subresource=status', '-A')).toBe('yes');
    expect(await can('patch', 'seccompprofileinstalls.harden.dev', '-A')).toBe('no');
    expect(await can('delete', 'pods', '-A')).toBe('no');
    // Nodes are the plugin's to read (status), not the agent's.
    expect(await can('list', 'nodes')).toBe('no');
    // The token kubelet mounted into the running agent pod, not impersonation: the API server decides.
    const read = await execInKubePod(
      AGENT_NAMESPACE,
      pod.metadata.name,
      ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/token'],
      { container: 'agent' },
    );
    expect(read.code).toBe(0);
    const kc = kubeconfigWith('agent-pod', { token: read.stdout.trim() });
    const asAgent = (...args: string[]) =>
      runRaw('kubectl', ['--kubeconfig', kc, ...args], { env: testenvEnv().processEnv });
    expect((await asAgent('get', 'pods', '-A')).code).toBe(0);
    const secrets = await asAgent('get', 'secrets', '-A');
    expect(secrets.code).not.toBe(0);
    expect(secrets.stderr).toMatch(/forbidden/i);
    const exec = await asAgent('exec', '-n', AGENT_NAMESPACE, pod.metadata.name, '--', 'true');
    expect(exec.code).not.toBe(0);
    expect(exec.stderr).toMatch(/forbidden/i);
    // RBAC lets it write TraceRecords; the admission policy, only its own node's (the token names it).
    for (const p of policies) await kubectl(['get', ...p]);
    const writeRecord = (node: string) =>
      runRaw('kubectl', ['--kubeconfig', kc, 'create', '--dry-run=server', '-o', 'name', '-f', '-'], {
        env: testenvEnv().processEnv,
        input: JSON.stringify(
          traceRecord(
            { metadata: { name: 'e2e-own-node', namespace: 'default', uid: 'u' } },
            {
              node,
              arch: 'amd64',
              agentVersion: 'e2e',
              lastFlush: new Date().toISOString(),
              final: false,
              containers: [],
            },
          ),
        ),
      });
    const own = await writeRecord('harden-node');
    expect(own).toMatchObject({ code: 0, stdout: 'tracerecord.harden.dev/e2e-own-node.harden-node\n' });
    const other = await writeRecord('another-node');
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain(
      "the agent on node harden-node may write only its own node's TraceRecords, not node another-node's",
    );
  });

  test('status shows the node, its kernel and the Ready agent pod', async () => {
    const pod = await agentPod();
    const r = await harden(['status', '-o', 'json']);
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout) as {
      nodes: { node: string; kernel: string; agentPod: string; ready: boolean; serves: { type: string }[] }[];
    };
    expect(status.nodes).toHaveLength(1);
    expect(status.nodes[0]).toMatchObject({ node: 'harden-node', agentPod: pod.metadata.name, ready: true });
    expect(status.nodes[0].kernel).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
    // This machine's kernel (6.18) serves every kind: the agent's own report says so.
    expect(status.nodes[0].serves.map((s) => s.type)).toEqual(['seccomp', 'network', 'capabilities']);
    const table = await harden(['status']);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^NODE\s+AGENT POD\s+READY\s+VERSION\s+KERNEL\s+BPFTRACE\s+SERVES\s+SESSIONS$/,
    );
  });

  test('an image that does not exist: deploy names it and ImagePullBackOff, exits 1 within its timeout, and the working agent stays', async () => {
    const good = await agentImage();
    const t0 = process.hrtime.bigint();
    const r = await harden(['deploy', '--image', MISSING, '--timeout', '90s']);
    const tookMs = Number(process.hrtime.bigint() - t0) / 1e6;
    process.stdout.write(
      `deploy --image ${MISSING}: exit ${r.code} after ${tookMs.toFixed(0)} ms\n${r.stderr}\n`,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the agent image ${MISSING} cannot be pulled`);
    expect(r.stderr).toMatch(/ImagePullBackOff/);
    expect(r.stderr).toContain(`rolled back to its previous image (${good})`);
    expect(tookMs).toBeLessThan(90_000 + 15_000);
    // The previous good state: the DaemonSet's image, and a Ready agent pod of it.
    expect(await agentImage()).toBe(good);
    const pod = await eventually(
      async () =>
        (await getAgentPods()).filter(
          (p) => !(p.metadata as { deletionTimestamp?: string }).deletionTimestamp,
        ),
      (pods) => pods.length === 1 && pods[0].spec.containers[0].image === good,
      { what: 'one agent pod of the previous image', withinMs: 120_000, everyMs: 1000 },
    );
    expect(pod).toHaveLength(1);
    await agentPod();
  });

  test('an agent without privileges (a policy dropped privileged: true): bpftrace cannot attach, and the condition says why', async () => {
    // What an admission policy that strips privileged containers does to the DaemonSet.
    const privileged = (on: boolean) =>
      patchAgentTemplate('json', [
        { op: 'replace', path: '/spec/template/spec/containers/0/securityContext/privileged', value: on },
      ]);
    await runKubePod({ namespace: NS, name: 'target', image: testImage('curl') });
    const old = (await agentPod()).metadata.uid;
    await privileged(false);
    try {
      await eventually(
        async () => (await getAgentPods()).filter((p) => p.metadata.uid !== old),
        (pods) =>
          pods.length === 1 &&
          (pods[0].status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
        { what: 'the unprivileged agent pod Ready', withinMs: 120_000, everyMs: 1000 },
      );
      const start = await harden(['seccomp', 'start', '-n', NS, '-p', 'target']);
      process.stdout.write(`seccomp start on an unprivileged agent: exit ${start.code}\n${start.stderr}\n`);
      expect(start.code).toBe(1);
      expect(start.stderr).toContain(
        'cannot be traced: bpftrace on node harden-node: BpftraceFailed: the agent runs without CAP_SYS_ADMIN (or CAP_BPF and CAP_PERFMON)',
      );
      // Refused, so nothing is left behind.
      const left = await kubectlJson<{ items: unknown[] }>(['get', 'tracesessions', '-n', NS]);
      expect(left.items).toEqual([]);
    } finally {
      await privileged(true);
    }
    await eventually(
      async () => (await getAgentPods()).filter((p) => p.metadata.uid !== old),
      (pods) => pods.length === 1 && pods[0].status.containerStatuses?.[0]?.ready === true,
      { what: 'the privileged agent pod back', withinMs: 180_000, everyMs: 1000 },
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
    const forced = await harden(['undeploy', '--force', '--timeout', '120s']);
    expect(forced.code).toBe(0);
    for (const o of [...objects, ...policies]) {
      const r = await runRaw('kubectl', ['get', ...o], { env: testenvEnv().processEnv });
      expect(r.stderr).toMatch(/NotFound|not found/);
    }
  });

  test('an image that does not exist on a cluster without the agent: nothing is left installed', async () => {
    const r = await harden(['deploy', '--image', MISSING, '--timeout', '90s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the agent image ${MISSING} cannot be pulled`);
    expect(r.stderr).toContain('nothing is left installed');
    for (const o of [...objects, ...policies]) {
      const got = await eventually(
        () => runRaw('kubectl', ['get', ...o, '-o', 'yaml'], { env: testenvEnv().processEnv }),
        (x) => /NotFound|not found/.test(x.stderr),
        { withinMs: 120_000, everyMs: 1000 },
      );
      // One that stayed is shown whole (its deletionTimestamp, finalizers and conditions say why).
      expect(/NotFound|not found/.test(got.stderr) ? 'gone' : got.stdout || got.stderr).toBe('gone');
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
