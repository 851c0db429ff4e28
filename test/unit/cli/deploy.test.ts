// deploy's rollout against a fake API server whose DaemonSet controller and kubelet are played by a
// hook: an image that cannot be pulled fails the deploy, naming it, and leaves nothing half-installed.
import { deployManifests } from '../../../lib/deploy/manifests';
import type { KubeObject } from '../../../lib/kube/objects';
import { objectPath, R } from '../../../lib/kube/paths';
import { FakeCluster, runCli } from '../fake-cluster';

const GOOD = 'registry.example/harden-agent:good';
const BAD = 'registry.example/harden-agent:missing';
const POD = '/api/v1/namespaces/harden-system/pods/harden-agent-abcde';

/** The DaemonSet controller and kubelet: one agent pod of the DaemonSet's image, Ready unless BAD. */
function withNode(c: FakeCluster): FakeCluster {
  c.hook = (method, _path, obj) => {
    if (method !== 'PATCH' || !obj) return;
    if (obj.kind === 'CustomResourceDefinition')
      Object.assign(obj, { status: { conditions: [{ type: 'Established', status: 'True' }] } });
    if (obj.kind !== 'DaemonSet') return;
    const image = (obj as unknown as { spec: { template: { spec: { containers: { image: string }[] } } } })
      .spec.template.spec.containers[0].image;
    const pulled = image !== BAD;
    Object.assign(obj, {
      status: { desiredNumberScheduled: 1, numberReady: pulled ? 1 : 0, updatedNumberScheduled: 1 },
    });
    c.objects.set(POD, {
      metadata: {
        name: 'harden-agent-abcde',
        namespace: 'harden-system',
        labels: { 'app.kubernetes.io/name': 'harden-agent' },
      },
      spec: { nodeName: 'node-1', containers: [{ name: 'agent', image }] },
      status: pulled
        ? { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }
        : {
            phase: 'Pending',
            containerStatuses: [
              {
                name: 'agent',
                state: {
                  waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` },
                },
              },
            ],
          },
    } as unknown as KubeObject & Record<string, unknown>);
  };
  return c;
}

const installed = (c: FakeCluster) =>
  deployManifests()
    .filter((m) => c.objects.has(objectPath(m)))
    .map((m) => `${m.kind}/${m.metadata.name}`);

test('an image that cannot be pulled on a fresh cluster: named, exit 1, and everything deploy made is removed', async () => {
  const c = withNode(new FakeCluster());
  const r = await runCli(['deploy', '--image', BAD, '--timeout', '30s'], c);
  expect(r.code).toBe(1);
  expect(r.err).toContain(
    `the agent image ${BAD} cannot be pulled: harden-agent-abcde on node node-1: ImagePullBackOff`,
  );
  expect(r.err).toContain('Everything this deploy created was removed again');
  expect(installed(c)).toEqual([]);
});

test('an image that cannot be pulled over a working agent: the DaemonSet gets its previous image back', async () => {
  const c = withNode(new FakeCluster());
  expect((await runCli(['deploy', '--image', GOOD], c)).code).toBe(0);
  const r = await runCli(['deploy', '--image', BAD, '--timeout', '30s'], c);
  expect(r.code).toBe(1);
  expect(r.err).toContain(`rolled back to its previous image (${GOOD})`);
  expect(installed(c)).toHaveLength(deployManifests().length);
  const ds = c.objects.get(objectPath(deployManifests().find((m) => m.kind === 'DaemonSet')!)) as unknown as {
    spec: { template: { spec: { containers: { image: string }[] } } };
  };
  expect(ds.spec.template.spec.containers[0].image).toBe(GOOD);
});

test('undeploy of a deployed agent whose objects are gone at once prints no empty waiting line', async () => {
  const c = withNode(new FakeCluster());
  expect((await runCli(['deploy', '--image', GOOD, '--timeout', '30s'], c)).code).toBe(0);
  const r = await runCli(['undeploy', '--force'], c);
  expect(r.code).toBe(0);
  expect(r.progress.filter((l) => /waiting for deletion:\s*$/.test(l))).toEqual([]);
  expect(installed(c)).toEqual([]);
});

test('undeploy refuses while seccomp profiles are installed, naming them; --force goes on', async () => {
  const c = withNode(new FakeCluster());
  expect((await runCli(['deploy', '--image', GOOD, '--timeout', '30s'], c)).code).toBe(0);
  c.put(R.seccompprofileinstalls, { metadata: { name: 'nginx', namespace: 'web' } });
  const r = await runCli(['undeploy'], c);
  expect(r.code).toBe(1);
  expect(r.err).toContain('1 seccomp profile(s) installed on the nodes (web/nginx; context "fake")');
  expect(installed(c)).toHaveLength(deployManifests().length);
  expect((await runCli(['undeploy', '--force'], c)).code).toBe(0);
});

test('deploy on a new cluster says nothing about a terminating namespace that never existed', async () => {
  const c = withNode(new FakeCluster());
  const r = await runCli(['deploy', '--image', GOOD, '--timeout', '30s'], c);
  expect(r.code).toBe(0);
  expect(r.progress.filter((l) => l.includes('terminating'))).toEqual([]);
});

test('deploy right after undeploy waits for the namespace to go, and says so', async () => {
  const c = withNode(new FakeCluster());
  const ns = '/api/v1/namespaces/harden-system';
  c.objects.set(ns, {
    metadata: { name: 'harden-system', deletionTimestamp: '2025-01-01T00:00:00Z' },
  } as KubeObject & Record<string, unknown>);
  setTimeout(() => c.objects.delete(ns), 300);
  const r = await runCli(['deploy', '--image', GOOD, '--timeout', '30s'], c);
  expect(r.code).toBe(0);
  expect(r.progress).toContain('waiting for namespace harden-system to finish terminating');
});

test('a cluster without admission policies (Kubernetes < 1.30): deploy goes on and says what is then not enforced', async () => {
  const c = withNode(new FakeCluster());
  c.unserved.add('/apis/admissionregistration.k8s.io/');
  const r = await runCli(['deploy', '--image', GOOD], c);
  expect(r.code).toBe(0);
  expect(r.err).toContain(
    "warning: validatingadmissionpolicy.admissionregistration.k8s.io/harden-agent-own-node not applied: this cluster serves no admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (Kubernetes < 1.30): each node's agent may write any node's TraceRecords",
  );
  expect(r.err).toContain(
    'warning: validatingadmissionpolicybinding.admissionregistration.k8s.io/harden-agent-own-node not applied',
  );
  expect(installed(c)).toEqual(
    deployManifests()
      .filter((m) => !m.kind.startsWith('ValidatingAdmissionPolicy'))
      .map((m) => `${m.kind}/${m.metadata.name}`),
  );
  // Any other missing API is still an error.
  const d = withNode(new FakeCluster());
  d.unserved.add('/apis/apps/');
  expect((await runCli(['deploy', '--image', GOOD], d)).code).not.toBe(0);
});
