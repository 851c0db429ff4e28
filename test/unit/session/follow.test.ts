import { ApiError, type Kube } from '../../../lib/kube/client';
import { R, resourcePath } from '../../../lib/kube/paths';
import { createSession } from '../../../lib/session/client';
import { finishSession } from '../../../lib/session/lifecycle';
import { traceRecord } from '../../../lib/session/trace-records';
import type { NodeRecord, TraceSession } from '../../../lib/session/types';
import { FakeCluster } from '../fake-cluster';

const NODES = ['node-1', 'node-2', 'node-3'];
const progress = { progress: () => undefined, done: () => undefined, err: () => undefined };
const recordLists = (c: FakeCluster) =>
  c.requests.filter((r) => r === 'GET /apis/harden.dev/v1alpha1/namespaces/web/tracerecords').length;

const nodeRecord = (node: string, final: boolean): NodeRecord => ({
  node,
  arch: 'amd64',
  agentVersion: 'test',
  lastFlush: new Date(0).toISOString(),
  final,
  phase: final ? 'Completed' : 'Tracing',
  containers: [],
});

/** Agents on three nodes tracing sc-1; each writes its final record a few ms after it sees the stop. */
async function tracing(c: FakeCluster, kube: Kube): Promise<TraceSession> {
  const s = await createSession(kube, 'web', 'sc-1', 'seccomp', { podName: 'p' });
  const write = (node: string, final: boolean) => {
    const r = traceRecord(s, nodeRecord(node, final));
    return kube.apply(resourcePath(R.tracerecords, { namespace: 'web', name: r.metadata.name }), r);
  };
  for (const n of NODES) await write(n, false);
  c.hook = (method, path, obj) => {
    if (method !== 'PATCH' || !path.endsWith('/tracesessions/sc-1')) return;
    if ((obj as unknown as TraceSession).spec.state !== 'Stopped') return;
    NODES.forEach((n, i) => setTimeout(() => void write(n, true), 30 + 40 * i));
  };
  return s;
}

describe('a session followed while stop waits for its final flushes', () => {
  test('its records are listed once; each final write comes from the watch', async () => {
    const c = new FakeCluster();
    const kube = c.kube('web');
    const s = await tracing(c, kube);
    const before = recordLists(c);
    const f = await finishSession(kube, progress, s, {
      timeoutMs: 5000,
      signal: new AbortController().signal,
    });
    expect(f.pending).toEqual([]);
    expect(f.session.status?.nodes?.map((n) => [n.node, n.final])).toEqual(NODES.map((n) => [n, true]));
    expect(recordLists(c) - before).toBe(1);
    // The session object itself is still read on every poll (several while the flushes arrive).
    expect(
      c.requests.filter((r) => r.endsWith('/tracesessions/sc-1') && r.startsWith('GET')).length,
    ).toBeGreaterThan(1);
  });

  test('a watch the server refuses: every poll lists the records, and the wait still ends', async () => {
    const c = new FakeCluster();
    const kube = c.kube('web');
    (kube as { watch: Kube['watch'] }).watch = () =>
      Promise.reject(new ApiError('watch forbidden', 403, { code: 403 }));
    const s = await tracing(c, kube);
    const before = recordLists(c);
    const f = await finishSession(kube, progress, s, {
      timeoutMs: 5000,
      signal: new AbortController().signal,
    });
    expect(f.pending).toEqual([]);
    expect(recordLists(c) - before).toBeGreaterThan(2);
  });

  test('without the TraceRecord resource (an older agent writes the status) the session alone is read', async () => {
    const c = new FakeCluster();
    const kube = c.kube('web');
    const s = await createSession(kube, 'web', 'sc-1', 'seccomp', { podName: 'p' });
    const request = kube.request.bind(kube);
    (kube as { request: Kube['request'] }).request = (method, path, opts) =>
      path.includes('/tracerecords')
        ? Promise.reject(new ApiError('the server could not find the requested resource', 404, { code: 404 }))
        : request(method, path, opts);
    const path = resourcePath(R.tracesessions, { namespace: 'web', name: 'sc-1' });
    const writeStatus = (final: boolean) =>
      kube.mergePatch(`${path}/status`, { status: { nodes: [nodeRecord('node-1', final)] } });
    await writeStatus(false);
    let stopped = false;
    c.hook = (method, at, obj) => {
      if (method !== 'PATCH' || at !== path || stopped) return;
      if ((obj as unknown as TraceSession).spec.state !== 'Stopped') return;
      stopped = true;
      setTimeout(() => void writeStatus(true), 30);
    };
    const f = await finishSession(kube, progress, s, {
      timeoutMs: 5000,
      signal: new AbortController().signal,
    });
    expect(f.pending).toEqual([]);
    expect(f.session.status?.nodes?.map((n) => [n.node, n.final])).toEqual([['node-1', true]]);
  });
});
