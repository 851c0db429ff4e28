// stop --include-shutdown through the real parser against the in-memory API server: before the
// stop, one traced pod of each restartable workload is deleted gracefully, its replacement waited
// for (Ready and traced, for a selector session), bare pods left alone and named; then the normal
// stop. An agent played by a hook records the old pod's exit and the replacement.
import type { Pod } from '../../../lib/kube/objects';
import { R, resourcePath } from '../../../lib/kube/paths';
import { recordShutdowns } from '../../../lib/session/shutdown';
import type { PrivilegeRecord } from '../../../lib/agent/recorders/privileges/types';
import type { ContainerRecord, TraceSession } from '../../../lib/session/types';
import * as f from '../securitycontext/fixtures';
import { agentEntry, clusterWithAgent, runCli, type FakeCluster } from '../fake-cluster';

const ready = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };

const apiPod = (suffix: string, created: string): Pod => ({
  metadata: {
    name: `api-7c9f-${suffix}`,
    namespace: 'web',
    uid: `uid-api-${suffix}`,
    creationTimestamp: created,
    labels: { app: 'api', 'pod-template-hash': '7c9f' },
    ownerReferences: [{ kind: 'ReplicaSet', name: 'api-7c9f', controller: true }],
  },
  spec: { nodeName: 'node-1', terminationGracePeriodSeconds: 5, containers: [{ name: 'main' }] },
  status: ready,
});

const record = (pod: string, podUID: string, workload: string, life?: ContainerRecord['life']) => ({
  pod,
  podUID,
  workload,
  container: 'main',
  containerID: `containerd://${podUID}`,
  syscalls: [0, 1, 59, 231],
  recordedFromStart: true,
  filterSeen: true,
  ...(life ? { life } : {}),
});

/**
 * web-1 (bare) and the Deployment api's two pods; the agent traces both workloads' first pods.
 * Deleting a pod of api makes the ReplicaSet's replacement (Ready unless `replace` is false), and
 * the agent records the old pod's SIGTERM exit and, unless `traceNew` is false, the new pod.
 */
function cluster(opts: { replace?: boolean; traceNew?: boolean } = {}): FakeCluster {
  const c = clusterWithAgent();
  c.put(R.pods, apiPod('aaaaa', '2026-01-01T00:00:02Z'));
  c.put(R.pods, apiPod('bbbbb', '2026-01-01T00:00:01Z'));
  const records = [record('web-1', 'uid-web-1', ''), record('api-7c9f-aaaaa', 'uid-api-aaaaa', 'api')];
  let session: TraceSession | undefined;
  c.hook = (method, path, obj) => {
    const s = obj as unknown as TraceSession | undefined;
    if (s?.kind === 'TraceSession') {
      session = s;
      if (method === 'POST')
        s.status = { phase: 'Tracing', nodes: [agentEntry(false, { containers: records })] };
      if (method === 'PATCH' && s.spec.state === 'Stopped' && s.status?.phase === 'Tracing')
        s.status = { phase: 'Completed', nodes: [agentEntry(true, { containers: records })] };
      return;
    }
    if (method !== 'DELETE' || !path.includes('/pods/api-7c9f-aaaaa')) return;
    records[1] = { ...records[1], life: { execProcesses: 0, stopSignals: 1, entrypointExit: 15 } };
    if (opts.replace !== false) {
      c.put(R.pods, apiPod('ccccc', '2026-01-01T00:01:00Z'));
      if (opts.traceNew !== false) records.push(record('api-7c9f-ccccc', 'uid-api-ccccc', 'api'));
    }
    if (session?.status) session.status.nodes = [agentEntry(false, { containers: records })];
  };
  return c;
}

const pods = (c: FakeCluster) =>
  [...c.objects.keys()]
    .filter((k) => k.startsWith('/api/v1/namespaces/web/pods/'))
    .map((k) => k.split('/').pop());

async function started(c: FakeCluster, target = ['-l', 'app in (api,web)']) {
  const r = await runCli(['seccomp', 'start', '-n', 'web', ...target, '--name', 'sc-1'], c);
  expect(r).toMatchObject({ code: 0, out: 'sc-1\n' });
}

describe('seccomp stop --include-shutdown', () => {
  test('stops one traced pod of the Deployment, waits for its traced replacement, leaves the bare pod; the shutdown is in the records', async () => {
    const c = cluster();
    await started(c);
    const r = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web', '--include-shutdown', '-o', 'crd'], c);
    expect(r.err).toContain(
      'deployment/api: stopping pod api-7c9f-aaaaa gracefully (grace period 5s) while the session traces',
    );
    expect(r.err).toMatch(/deployment\/api: pod api-7c9f-aaaaa stopped in \d+\.\ds \(grace period 5s\)/);
    expect(r.err).toContain('deployment/api: replacement api-7c9f-ccccc is Ready and traced');
    expect(r.err).toContain('warning: pod/web-1: a bare pod is not restartable');
    // Only the chosen pod went (the traced one, though the other is older); the session then ended.
    expect(c.requests.filter((q) => q.startsWith('DELETE /api/v1/namespaces/web/pods/'))).toEqual([
      'DELETE /api/v1/namespaces/web/pods/api-7c9f-aaaaa',
    ]);
    expect(pods(c).sort()).toEqual(['api-7c9f-bbbbb', 'api-7c9f-ccccc', 'web-1']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('kind: SeccompProfile');
    // api's shutdown was recorded; the bare pod's was not, and stop says so.
    expect(r.err).not.toMatch(/api\/main: shutdown .* not observed/);
    expect(r.err).toContain(
      'web-1/main: shutdown (stop signal to exit) not observed: no instance stopped while traced',
    );
    expect(c.sessions()).toEqual([]);
  });

  test('securitycontext stop takes it too: a replacement named only in its privilege records counts as traced', async () => {
    const c = clusterWithAgent();
    const webPod = (suffix: string, uid: string): Pod => ({
      metadata: {
        name: `web-7c9f-${suffix}`,
        namespace: 'web',
        uid,
        labels: { app: 'web', 'pod-template-hash': '7c9f' },
        ownerReferences: [{ kind: 'ReplicaSet', name: 'web-7c9f', controller: true }],
      },
      spec: { nodeName: 'node-1', ...f.nginxRootSpec },
      status: ready,
    });
    c.put(R.pods, webPod('abcde', 'uid-1'));
    c.put(R.deployments, {
      metadata: { name: 'web', namespace: 'web' },
      spec: { template: { spec: f.nginxRootSpec } },
    } as never);
    const privileges: PrivilegeRecord[] = [f.nginxRoot];
    let session: TraceSession | undefined;
    const entry = (final: boolean) => agentEntry(final, { containers: [], privileges });
    c.hook = (method, path, obj) => {
      const s = obj as unknown as TraceSession | undefined;
      if (s?.kind === 'TraceSession') {
        session = s;
        if (method === 'POST') s.status = { phase: 'Tracing', nodes: [entry(false)] };
        if (method === 'PATCH' && s.spec.state === 'Stopped' && s.status?.phase === 'Tracing')
          s.status = { phase: 'Completed', nodes: [entry(true)] };
        return;
      }
      if (method !== 'DELETE' || !path.endsWith('/pods/web-7c9f-abcde')) return;
      privileges[0] = { ...f.nginxRoot, life: { execProcesses: 0, stopSignals: 2, entrypointExit: 0 } };
      c.put(R.pods, webPod('fghij', 'uid-2'));
      privileges.push({ ...f.nginxRoot, pod: 'web-7c9f-fghij', podUID: 'uid-2' });
      if (session?.status) session.status.nodes = [entry(false)];
    };
    expect((await runCli(['sc', 'start', '-n', 'web', '-l', 'app=web', '--name', 'cap-1'], c)).code).toBe(0);
    const r = await runCli(['sc', 'stop', 'cap-1', '-n', 'web', '--include-shutdown'], c);
    expect(r.err).toContain('deployment/web: replacement web-7c9f-fghij is Ready and traced');
    expect(r.code).toBe(0);
    expect(r.err).not.toMatch(/shutdown \(stop signal to exit\) not observed/);
    expect(r.out).toContain('kind: SecurityContextAdvice');
  });

  test('a session already stopped is refused before any pod is touched', async () => {
    const c = cluster();
    await started(c);
    const kept = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web', '--keep', '-o', 'crd'], c);
    expect(kept.code).toBe(0);
    // A kept session with gaps may be stopped again; make it one so that the check is ours.
    c.session('web', 'sc-1')!.status!.nodes![0].gaps = [
      { from: '2026-01-01T00:00:00Z', to: '2026-01-01T00:00:05Z', reason: 'AgentRestarted' },
    ];
    const r = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web', '--include-shutdown', '-o', 'crd'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'session "sc-1" in namespace "web" is already stopped: --include-shutdown needs it still tracing',
    );
    expect(c.requests.some((q) => q.startsWith('DELETE /api/v1/namespaces/web/pods/'))).toBe(false);
  });
});

describe('recordShutdowns', () => {
  const io = () => {
    const lines: string[] = [];
    return {
      lines,
      err: (t: string) => void lines.push(t),
      progress: () => undefined,
      done: () => undefined,
    };
  };
  const session = (c: FakeCluster, name: string) =>
    c.objects.get(resourcePath(R.tracesessions, { namespace: 'web', name })) as unknown as TraceSession;

  test("a pod session waits for the replacement to be Ready only (it is not the session's target)", async () => {
    const c = cluster({ traceNew: false });
    await started(c, ['-p', 'api-7c9f-aaaaa']);
    const out = io();
    const [o] = await recordShutdowns(c.kube('web'), out, session(c, 'sc-1'), {
      signal: new AbortController().signal,
      resume: 'stop',
      intervalMs: 5,
    });
    expect(o).toMatchObject({
      workload: 'deployment/api',
      pod: 'api-7c9f-aaaaa',
      graceS: 5,
      replacement: 'api-7c9f-ccccc',
    });
    expect(out.lines).toContain('deployment/api: replacement api-7c9f-ccccc is Ready');
  });

  test('a replacement that never comes is said, and the stop may go on', async () => {
    const c = cluster({ replace: false });
    await started(c, ['-l', 'app=api']);
    const out = io();
    const [o] = await recordShutdowns(c.kube('web'), out, session(c, 'sc-1'), {
      signal: new AbortController().signal,
      resume: 'stop',
      intervalMs: 5,
      replacementTimeoutMs: 50,
    });
    expect(o.problem).toBe('no replacement of pod api-7c9f-aaaaa was Ready and traced within 0.05s');
    expect(out.lines).toContain(
      'warning: deployment/api: no replacement of pod api-7c9f-aaaaa was Ready and traced within 0.05s; check it with: kubectl get pods -n web',
    );
  });

  test('a replacement Ready but not yet traced is waited for', async () => {
    const c = cluster({ traceNew: false });
    await started(c, ['-l', 'app=api']);
    const out = io();
    const [o] = await recordShutdowns(c.kube('web'), out, session(c, 'sc-1'), {
      signal: new AbortController().signal,
      resume: 'stop',
      intervalMs: 5,
      replacementTimeoutMs: 50,
    });
    expect(o.replacement).toBeUndefined();
    expect(o.problem).toMatch(/Ready and traced within/);
  });

  test('Ctrl-C while waiting: the session still traces, and the hint says how to stop it', async () => {
    const c = cluster({ replace: false });
    await started(c, ['-l', 'app=api']);
    const ac = new AbortController();
    const run = recordShutdowns(c.kube('web'), io(), session(c, 'sc-1'), {
      signal: ac.signal,
      resume: 'kubectl harden seccomp stop sc-1 -n web',
      intervalMs: 5,
    });
    setTimeout(() => ac.abort(), 30);
    await expect(run).rejects.toMatchObject({
      message: 'interrupted while recording the shutdown; session "sc-1" still traces',
      exitCode: 130,
    });
    expect(session(c, 'sc-1').spec.state).toBe('Running');
  });
});
