// The securitycontext verbs through the real parser against the in-memory API server: an agent
// played by a hook writes privilege records; the commands print advice and patches from them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import type { Pod } from '../../../lib/kube/objects';
import { R, resourcePath } from '../../../lib/kube/paths';
import type { PrivilegeRecord } from '../../../lib/agent/recorders/privileges/types';
import type { NodeRecord, TraceSession } from '../../../lib/session/types';
import { agentEntry, clusterWithAgent, runCli, type FakeCluster } from '../fake-cluster';
import { GOLDEN_DIR } from '../golden';
import * as f from '../securitycontext/fixtures';

/** The agent on node-1: traces a new session at once and writes these records; final on the stop. */
function playAgent(c: FakeCluster, records: PrivilegeRecord[]) {
  const entry = (final: boolean): NodeRecord => agentEntry(final, { privileges: records });
  c.hook = (method, _path, obj) => {
    const s = obj as unknown as TraceSession | undefined;
    if (!s || s.kind !== 'TraceSession') return;
    if (method === 'POST') s.status = { phase: 'Tracing', nodes: [entry(false)] };
    if (method === 'PATCH' && s.spec.state === 'Stopped' && s.status?.phase === 'Tracing') {
      s.status = { phase: 'Completed', nodes: [entry(true)] };
    }
  };
}

/** nginx's pod web-7c9f-abcde, owned (through its ReplicaSet) by the Deployment "web". */
function withNginxDeployment(c: FakeCluster): void {
  c.put(R.pods, {
    metadata: {
      name: 'web-7c9f-abcde',
      namespace: 'web',
      uid: 'uid-1',
      labels: { app: 'web', 'pod-template-hash': '7c9f' },
      ownerReferences: [{ kind: 'ReplicaSet', name: 'web-7c9f', controller: true }],
    },
    spec: { nodeName: 'node-1', ...f.nginxRootSpec },
    status: { phase: 'Running' },
  } as Pod);
  c.put(R.deployments, {
    metadata: { name: 'web', namespace: 'web' },
    spec: { template: { spec: f.nginxRootSpec } },
  } as never);
}

async function started(records: PrivilegeRecord[]) {
  const c = clusterWithAgent();
  withNginxDeployment(c);
  playAgent(c, records);
  const r = await runCli(['securitycontext', 'start', '-n', 'web', '-l', 'app=web', '--name', 'cap-1'], c);
  expect(r).toMatchObject({ code: 0, out: 'cap-1\n' });
  expect(r.err).toContain('kubectl harden securitycontext stop cap-1 -n web > advice.yaml');
  expect(c.session('web', 'cap-1')?.spec.type).toBe('capabilities');
  return c;
}

describe('kubectl harden securitycontext', () => {
  test('stop -o patch prints the Deployment patch the advice golden holds, then removes the session', async () => {
    const c = await started([f.nginxRoot]);
    const r = await runCli(['sc', 'stop', 'cap-1', '-n', 'web', '-o', 'patch'], c);
    expect(r.code).toBe(0);
    const golden = readFileSync(join(GOLDEN_DIR, 'securitycontext/nginx-root.patch.json'), 'utf8');
    expect(JSON.parse(r.out)).toEqual(JSON.parse(golden));
    expect(r.err).toContain('deployment/web: meets Pod Security Standard "baseline" with this advice');
    expect(r.err).toMatch(/deployment\/web\/nginx: root is needed: the entrypoint starts as root/);
    expect(r.err).toContain(
      'deployment/web/nginx: relied on the container runtime: containerd (from the container IDs)',
    );
    expect(c.sessions()).toEqual([]);
  });

  test('a list cut at its bound is named; without --accept-truncated nothing is printed and the session is kept', async () => {
    const c = await started([f.rootfsFiller]);
    const named =
      "warning: store/store: the agent's list of root filesystem writes hit its bound (256 entries per list, 3000 across a node's records)";
    const refused = await runCli(['sc', 'stop', 'cap-1', '-n', 'web'], c);
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err).toContain(named);
    expect(refused.err).toContain('1 bounded set cut, listed above');
    expect(refused.err).toContain('kubectl harden securitycontext stop cap-1 -n web --accept-truncated');
    // Again on the completed session: named again, not "already stopped".
    const again = await runCli(['sc', 'stop', 'cap-1', '-n', 'web'], c);
    expect(again.code).toBe(1);
    expect(again.err).toContain(named);

    const taken = await runCli(['sc', 'stop', 'cap-1', '-n', 'web', '--accept-truncated'], c);
    expect(taken.code).toBe(0);
    expect(taken.err).toContain(named);
    // The advice withholds what the cut list decides, and says why.
    expect(taken.out).not.toContain('readOnlyRootFilesystem: true');
    expect(taken.err).toMatch(/so readOnlyRootFilesystem is not advised/);
    expect(taken.err).toContain(`${named}: the advice withholds what those lists decide`);
    expect(c.sessions()).toEqual([]);
  });

  test('a cut list of volume writes withholds nothing: stop says the volume paths may be incomplete', async () => {
    const c = await started([f.volumeFiller]);
    const taken = await runCli(['sc', 'stop', 'cap-1', '-n', 'web', '--accept-truncated'], c);
    expect(taken.code).toBe(0);
    expect(taken.err).toContain(
      "warning: store/store: the agent's list of writes off the root filesystem hit its bound (256 entries per list, 3000 across a node's records): the volume paths the advice names may be incomplete",
    );
    expect(taken.err).not.toContain('withholds');
    expect(taken.out).toContain('readOnlyRootFilesystem: true');
  });

  test('stop names what of the life was not seen; --require-full-life then refuses and keeps the session', async () => {
    const c = await started([f.nginxRoot]);
    const shutdown =
      'warning: deployment/web/nginx: shutdown (stop signal to exit) not observed: no instance stopped while traced';
    const refused = await runCli(['sc', 'stop', 'cap-1', '-n', 'web', '--require-full-life'], c);
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err).toContain(shutdown);
    expect(refused.err).toContain(
      "1 part of the workloads' life was not observed (listed above) and --require-full-life is set",
    );
    expect(refused.err).toContain('kubectl harden securitycontext show cap-1 -n web');
    expect(c.session('web', 'cap-1')?.spec.state).toBe('Stopped');
    // Without it the advice is printed, the same warning on stderr.
    const shown = await runCli(['sc', 'show', 'cap-1', '-n', 'web'], c);
    expect(shown.code).toBe(0);
    expect(shown.err).toContain(shutdown);
    expect(shown.out).toContain('kind: SecurityContextAdvice');
  });

  test('a whole life recorded: --require-full-life prints the advice', async () => {
    const c = await started([
      { ...f.nginxRoot, life: { execProcesses: 0, stopSignals: 2, entrypointExit: 0 } },
    ]);
    const r = await runCli(['sc', 'stop', 'cap-1', '-n', 'web', '--require-full-life'], c);
    expect(r.code).toBe(0);
    expect(r.err).not.toContain('not observed');
    expect(r.out).toContain('kind: SecurityContextAdvice');
  });

  test('show prints YAML advice and keeps the session running', async () => {
    const c = await started([f.nginxRoot]);
    const r = await runCli(['securitycontext', 'show', 'cap-1', '-n', 'web'], c);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^apiVersion: harden.dev\/v1alpha1\nkind: SecurityContextAdvice\n/);
    expect(r.out).toContain('level: baseline');
    expect(c.session('web', 'cap-1')?.spec.state).toBe('Running');
  });

  test('list counts the containers whose privileges were recorded', async () => {
    const c = await started([f.nginxRoot]);
    const r = await runCli(['sc', 'list', '-n', 'web'], c);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ID\s+NAMESPACE\s+TARGET\s+PHASE\s+NODES\s+CONTAINERS\s+AGE\n/);
    expect(r.out).toMatch(/\ncap-1\s+web\s+selector app=web\s+Tracing\s+1\s+1\s+\d+s\n/);
  });

  test('a workload whose pods are gone: advice still prints, stderr says what is unknown, -o patch refuses', async () => {
    const c = await started(f.redisReplicas);
    const shown = await runCli(['sc', 'show', 'cap-1', '-n', 'web'], c);
    expect(shown.code).toBe(0);
    expect(shown.err).toContain('warning: no pod of cache is left in namespace "web"');
    expect(shown.out).toContain('level: restricted');
    const patch = await runCli(['sc', 'show', 'cap-1', '-n', 'web', '-o', 'patch'], c);
    expect(patch.code).toBe(1);
    expect(patch.err).toMatch(/the owner of cache is unknown: none of its pods is left in namespace "web"/);
    expect(patch.out).toBe('');
  });

  test('a deleted Deployment whose pod still stops: the pod is not taken for the workload', async () => {
    const c = await started([f.nginxRoot]);
    // What the garbage collector leaves for a moment: the Deployment gone, its pod terminating.
    c.objects.delete(resourcePath(R.deployments, { namespace: 'web', name: 'web' }));
    const pod = c.objects.get(resourcePath(R.pods, { namespace: 'web', name: 'web-7c9f-abcde' }))!;
    pod.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    const r = await runCli(['sc', 'stop', 'cap-1', '-n', 'web', '-o', 'patch'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain('warning: no pod of web is left in namespace "web"');
    expect(r.err).toMatch(/the owner of web is unknown/);
    expect(r.err).not.toContain('pod/web-7c9f-abcde');
    expect(r.out).toBe('');
  });

  test("a CronJob's run: the patch is for the CronJob's job template, not for its run's immutable Job", async () => {
    const c = clusterWithAgent();
    c.put(R.pods, {
      metadata: {
        name: 'web-7c9f-abcde',
        namespace: 'web',
        uid: 'uid-1',
        labels: { app: 'web' },
        ownerReferences: [{ kind: 'Job', name: 'web-29000', controller: true }],
      },
      spec: { nodeName: 'node-1', ...f.nginxRootSpec },
      status: { phase: 'Running' },
    } as Pod);
    c.put(R.jobs, {
      metadata: {
        name: 'web-29000',
        namespace: 'web',
        ownerReferences: [{ kind: 'CronJob', name: 'web', controller: true }],
      },
      spec: { template: { spec: f.nginxRootSpec } },
    } as never);
    c.put(R.cronjobs, {
      metadata: { name: 'web', namespace: 'web' },
      spec: { jobTemplate: { spec: { template: { spec: f.nginxRootSpec } } } },
    } as never);
    playAgent(c, [f.nginxRoot]);
    expect((await runCli(['sc', 'start', '-n', 'web', '-l', 'app=web', '--name', 'cap-1'], c)).code).toBe(0);
    const r = await runCli(['sc', 'stop', 'cap-1', '-n', 'web', '-o', 'patch'], c);
    expect(r.code).toBe(0);
    expect(r.err).toContain('cronjob/web: meets Pod Security Standard');
    const patch = JSON.parse(r.out) as { spec: { jobTemplate?: { spec: { template: { spec: unknown } } } } };
    expect(patch.spec.jobTemplate?.spec.template.spec).toMatchObject({
      containers: [expect.objectContaining({ name: 'nginx' })],
    });
  });

  test('two workloads for one patch: refused before stopping, naming the stop that prints them', async () => {
    const c = await started([f.nginxRoot, ...f.redisReplicas]);
    const r = await runCli(['sc', 'stop', 'cap-1', '-n', 'web', '-o', 'patch'], c);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/recorded 2 workloads \(cache, web\); a patch is for one; nothing was stopped/);
    expect(r.err).toContain('kubectl harden securitycontext stop cap-1 -n web -o yaml');
    expect(r.out).toBe('');
    expect(c.session('web', 'cap-1')?.spec.state).toBe('Running');
  });

  test('nothing recorded: a clear error naming the session, namespace and context', async () => {
    const c = await started([]);
    const r = await runCli(['sc', 'show', 'cap-1', '-n', 'web'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain('session "cap-1" in namespace "web" (context "fake") recorded no container');
  });

  test('a running container that made no privileged call: stop advises nothing its start-up decides, and says why', async () => {
    const c = await started([f.idleRunning]);
    const r = await runCli(['sc', 'stop', 'cap-1', '-n', 'web'], c);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/web\/nginx: the container was already running when the session started/);
    const advice = load(r.out) as { containers: { name: string; securityContext: object }[] };
    expect(advice.containers.map((x) => [x.name, Object.keys(x.securityContext)])).toEqual([
      ['nginx', ['seccompProfile']],
    ]);
  });

  test('a container the pod does not have is refused before any session exists', async () => {
    const c = clusterWithAgent();
    const r = await runCli(['sc', 'start', '-n', 'web', '-p', 'web-1', '-c', 'nope'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain('container "nope" not found in pod "web-1"');
    expect(c.sessions()).toEqual([]);
  });

  test('a seccomp session is not a securitycontext session', async () => {
    const c = await started([f.nginxRoot]);
    (c.session('web', 'cap-1') as TraceSession).spec.type = 'seccomp';
    const r = await runCli(['sc', 'show', 'cap-1', '-n', 'web'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain('capabilities session "cap-1" not found in namespace "web"');
    expect(r.err).toContain('kubectl harden securitycontext list -A');
  });

  test('its help names the -o values it takes', async () => {
    const r = await runCli(['sc', 'stop', '--help'], clusterWithAgent());
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/-o, --output\s+Output format\s+\[string\] \[choices: "yaml", "json", "patch"\]/);
  });
});
