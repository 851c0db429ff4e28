// The agent writes a session's status only when what it would write changed: its own writes, and
// other nodes' writes, come back through its watch and must not cause more writes.
import { canonicalJson, StatusMemo } from '../../../lib/agent/core/status-memo';
import { StatusWriter, TALLY_WRITE_MS } from '../../../lib/agent/core/status-writer';
import type { Flow } from '../../../lib/agent/recorders/network/types';
import { FakeCluster } from '../fake-cluster';
import { R, resourcePath } from '../../../lib/kube/paths';
import {
  NODE,
  phaseOf,
  soon,
  makeWorld,
  runningPod,
  session,
  sleep,
  stopSession,
  type World,
} from './fake-world';

describe('StatusMemo', () => {
  test('canonical JSON ignores key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe(
      canonicalJson({ a: { c: null, d: [2, 1] }, b: 1 }),
    );
    expect(canonicalJson({ a: [1, 2] })).not.toBe(canonicalJson({ a: [2, 1] }));
  });

  test('unchanged only for the content last written', () => {
    const memo = new StatusMemo();
    expect(memo.unchanged({ a: 1 })).toBe(false);
    memo.wrote({ a: 1 });
    expect(memo.unchanged({ a: 1 })).toBe(true);
    expect(memo.unchanged({ a: 2 })).toBe(false);
  });
});

describe('StatusWriter: tallies wait, anything new is written at once', () => {
  const s1 = { metadata: { name: 's1', namespace: 'ns', uid: 'u-1' } };
  const flow = (remotePort: number, count: number, lastSeen: string): Flow => ({
    pod: 'web',
    direction: 'egress',
    proto: 'TCP',
    localIP: '10.0.0.1',
    localPort: 0,
    remoteIP: '10.0.0.2',
    remotePort,
    count,
    firstSeen: 'a',
    lastSeen,
  });
  const record = (flows: Flow[]) => ({
    node: NODE,
    arch: 'amd64',
    agentVersion: 'x',
    final: false,
    phase: 'Tracing' as const,
    containers: [],
    flows,
  });

  test('a change of counts and times alone waits TALLY_WRITE_MS; a new flow or the final flush does not', async () => {
    const c = new FakeCluster();
    const writer = new StatusWriter(c.kube('ns'), NODE);
    const tallies = ['count', 'lastSeen'];
    const t0 = 1_000_000;
    expect(await writer.writeRecord(s1, record([flow(80, 1, 'a')]), tallies, t0)).toBe(true);
    expect(await writer.writeRecord(s1, record([flow(80, 5, 'b')]), tallies, t0 + 3_000)).toBe(false);
    expect(
      await writer.writeRecord(s1, record([flow(80, 5, 'b'), flow(81, 1, 'b')]), tallies, t0 + 6_000),
    ).toBe(true);
    expect(
      await writer.writeRecord(s1, record([flow(80, 9, 'c'), flow(81, 1, 'b')]), tallies, t0 + 9_000),
    ).toBe(false);
    expect(
      await writer.writeRecord(
        s1,
        record([flow(80, 9, 'c'), flow(81, 1, 'b')]),
        tallies,
        t0 + 6_000 + TALLY_WRITE_MS,
      ),
    ).toBe(true);
    const written = c.objects.get(resourcePath(R.tracerecords, { namespace: 'ns', name: `s1.${NODE}` }));
    expect(written?.record).toMatchObject({ flows: [flow(80, 9, 'c'), flow(81, 1, 'b')] });
    const final = { ...record([flow(80, 10, 'd'), flow(81, 1, 'b')]), final: true };
    expect(await writer.writeRecord(s1, final, tallies, t0 + 6_001 + TALLY_WRITE_MS)).toBe(true);
    // Without tallies every change is written.
    const plain = new StatusWriter(c.kube('ns'), 'node-2');
    expect(await plain.writeRecord(s1, { ...record([flow(80, 1, 'a')]), node: 'node-2' }, [], t0)).toBe(true);
    expect(await plain.writeRecord(s1, { ...record([flow(80, 2, 'a')]), node: 'node-2' }, [], t0 + 1)).toBe(
      true,
    );
  });
});

describe('controller writes', () => {
  let w: World;
  afterEach(() => w?.close());

  test("a node's record goes to a TraceRecord of its own, owned by the session; the session's status is not written", async () => {
    w = makeWorld({ flushMs: 100, intervalMs: 100 });
    w.setSyscalls([0, 1]);
    w.fake.putPod(runningPod(w, 'web'));
    w.fake.putSession(session('s1', { podName: 'web' }));
    await w.controller.start();
    await soon(
      'tracing',
      () => phaseOf(w.fake.session('s1')),
      (p) => p === 'Tracing',
    );
    const uid = w.fake.cluster.objects.get(resourcePath(R.tracesessions, { namespace: 'ns', name: 's1' }))
      ?.metadata.uid;
    const record = w.fake.cluster.objects.get(
      resourcePath(R.tracerecords, { namespace: 'ns', name: `s1.${NODE}` }),
    );
    expect(record?.metadata).toMatchObject({
      labels: { 'harden.dev/session': 's1', 'harden.dev/node': NODE },
      ownerReferences: [{ kind: 'TraceSession', name: 's1', uid }],
    });
    expect(record?.record).toMatchObject({ node: NODE, phase: 'Tracing' });
    expect(w.fake.cluster.requests.filter((r) => r.includes('/tracesessions/s1/status'))).toEqual([]);
  });

  test('no write without a change, whatever comes back through the watch; a change is written once', async () => {
    w = makeWorld({ flushMs: 100, intervalMs: 100 });
    w.setSyscalls([0, 1]);
    w.fake.putPod(runningPod(w, 'web'));
    w.fake.putSession(session('s1', { podName: 'web' }));
    await w.controller.start();
    const tracing = await soon(
      'tracing with syscalls',
      () => w.fake.writes,
      (ws) =>
        ws.some(
          (x) =>
            x.status.nodes?.[0]?.phase === 'Tracing' &&
            x.status.nodes?.[0].containers[0]?.syscalls?.length === 2,
        ),
    );
    const settled = tracing.length;
    // Ten flush intervals of the same syscalls, with another node writing its entry meanwhile.
    for (let i = 0; i < 5; i++) {
      w.fake.otherNodeWrites('s1');
      await sleep(200);
    }
    expect(w.fake.writes.length).toBe(settled);

    w.setSyscalls([0, 1, 2]);
    await soon(
      'the new syscall written',
      () => w.fake.writes,
      (ws) => ws.some((x) => x.status.nodes?.[0].containers[0]?.syscalls?.includes(2)),
    );
    const afterChange = w.fake.writes.length;
    await sleep(1000);
    expect(w.fake.writes.length - settled).toBe(1);
    expect(w.fake.writes.length).toBe(afterChange);
    // The condition never transitioned, so every write carries the first write's time.
    const times = w.fake.writes.map((x) => x.status.nodes?.[0].conditions?.[0].lastTransitionTime);
    expect(new Set(times).size).toBe(1);
  });

  test('a spec change (stop) is acted on: the final flush is written', async () => {
    w = makeWorld({ flushMs: 100, intervalMs: 100 });
    w.setSyscalls([3]);
    w.fake.putPod(runningPod(w, 'web'));
    const s = session('s2', { podName: 'web' });
    w.fake.putSession(s);
    await w.controller.start();
    await soon(
      'tracing',
      () => w.fake.writes,
      (ws) => ws.some((x) => x.status.nodes?.[0]?.phase === 'Tracing'),
    );
    stopSession(w, 's2');
    const done = await soon(
      'final',
      () => w.fake.writes,
      (ws) => ws.some((x) => x.status.nodes?.[0].final),
    );
    const n = done.length;
    await sleep(500);
    expect(w.fake.writes.length).toBe(n);
    expect(done[n - 1].status.nodes?.[0]?.phase).toBe('Completed');
    expect(done[n - 1].status.nodes?.[0].containers[0].syscalls).toEqual([3]);
  });
});
