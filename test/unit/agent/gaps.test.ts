// Intervals in which targets were not traced become data in the status, never silence.
jest.setTimeout(30_000);

import {
  entryOf,
  soon,
  makeWorld,
  NODE,
  runningPod,
  session,
  startTracing,
  stopSession,
  type World,
} from './fake-world';

let w: World;
afterEach(() => w?.close());

/** A world whose session 's' on pod 'web' has recorded its first syscall. */
async function recordingPodSession(): Promise<World> {
  const world = makeWorld({ flushMs: 100, intervalMs: 100 });
  world.setSyscalls([0]);
  world.fake.putPod(runningPod(world, 'web'));
  world.fake.putSession(session('s', { podName: 'web' }));
  await world.controller.start();
  await soon(
    'recording',
    () => entryOf(world, 's'),
    (n) => n?.containers[0]?.syscalls?.length === 1,
  );
  return world;
}

test('bpftrace killed: the container gets a gap from the last print to the new program, and the condition says so meanwhile', async () => {
  w = await recordingPodSession();
  const [first] = w.runs();
  const killedAt = Date.now();
  process.kill(first.pid, 'SIGKILL');
  await soon(
    'BpftraceReady False',
    () => w.fake.writes,
    (ws) => ws.some((x) => x.status.nodes?.[0].conditions?.[0].status === 'False'),
  );
  const n = await soon(
    'a gap',
    () => entryOf(w, 's'),
    (v) => (v?.containers[0]?.gaps?.length ?? 0) > 0,
  );
  const back = Date.now();
  expect(w.runs()).toHaveLength(2);
  const [gap] = n!.containers[0].gaps!;
  expect(gap.reason).toBe('BpftraceExited');
  // From at most one print interval before the kill, to the replacement's start.
  expect(Date.parse(gap.from)).toBeGreaterThanOrEqual(killedAt - 100 - 50);
  expect(Date.parse(gap.from)).toBeLessThanOrEqual(killedAt);
  expect(Date.parse(gap.to)).toBeGreaterThan(killedAt);
  expect(Date.parse(gap.to)).toBeLessThanOrEqual(back);
  expect(n!.conditions?.[0].status).toBe('True');
  // A pod session names the gap on its container only.
  expect(n!.gaps).toBeUndefined();
});

test.each([
  ['a syscall map that overflowed within an interval', 'MapFull', (w: World) => w.overflowMap()],
  ["bpftrace's lost output", 'EventsLost', (w: World) => w.loseOutput()],
] as const)('%s is a gap on the recording container, not silence', async (_, reason, drop) => {
  w = await recordingPodSession();
  const before = Date.now();
  drop(w);
  const n = await soon(
    'a gap',
    () => entryOf(w, 's'),
    (v) => (v?.containers[0]?.gaps?.length ?? 0) > 0,
  );
  const [gap] = n!.containers[0].gaps!;
  expect(gap.reason).toBe(reason);
  // It covers the drop; it starts no earlier than the session's first Tracing write, which may be
  // the very millisecond the drop happened in.
  expect(Date.parse(gap.from)).toBeLessThanOrEqual(before);
  expect(Date.parse(gap.to)).toBeGreaterThanOrEqual(before);
  // Traced all along: nothing was restarted, and the condition stays True.
  expect(w.runs()).toHaveLength(1);
  expect(n!.conditions?.[0].status).toBe('True');
});

test('an open session also records the gap for the node: a pod that ran only then left no record', async () => {
  w = makeWorld({ flushMs: 100, intervalMs: 100 });
  w.fake.putPod(runningPod(w, 'web', { app: 'web' }));
  w.fake.putSession(session('s', { selector: { matchLabels: { app: 'web' } } }));
  await startTracing(w, 's');
  process.kill(w.runs()[0].pid, 'SIGKILL');
  const n = await soon(
    'node gap',
    () => entryOf(w, 's'),
    (v) => (v?.gaps?.length ?? 0) > 0,
  );
  expect(n!.gaps![0].reason).toBe('BpftraceExited');
  expect(n!.containers[0]?.gaps?.[0]).toEqual(n!.gaps![0]);
});

/** A session this node's earlier agent was tracing: its entry, written `agoMs` ago, names the pod's container. */
function takenOver(agoMs: number) {
  const pod = runningPod(w, 'web');
  w.fake.putPod(pod);
  const s = session('s', { podName: 'web' });
  const lastFlush = new Date(Date.now() - agoMs).toISOString();
  const cid = pod.status!.containerStatuses![0].containerID!;
  s.status = {
    phase: 'Tracing',
    nodes: [
      {
        node: NODE,
        arch: 'amd64',
        agentVersion: 'x',
        lastFlush,
        final: false,
        containers: [
          {
            pod: 'web',
            podUID: pod.metadata.uid!,
            container: 'main',
            containerID: cid,
            syscalls: [59],
            recordedFromStart: true,
            filterSeen: false,
          },
        ],
      },
    ],
  };
  return { s, lastFlush };
}

test('an agent that takes over a session records the time since its predecessor last wrote', async () => {
  w = makeWorld({ flushMs: 100, intervalMs: 100 });
  w.setSyscalls([0]);
  const { s, lastFlush } = takenOver(5000);
  w.fake.putSession(s);
  await w.controller.start();
  const n = await soon(
    'resume gap',
    () => entryOf(w, 's'),
    (v) => (v?.containers[0]?.gaps?.length ?? 0) > 0,
  );
  expect(n!.containers[0].gaps![0]).toMatchObject({ from: lastFlush, reason: 'AgentRestarted' });
  expect(Date.parse(n!.containers[0].gaps![0].to)).toBeGreaterThan(Date.parse(lastFlush));
  // What the predecessor wrote is kept, and the new syscall joins it.
  await soon(
    'merged',
    () => entryOf(w, 's'),
    (v) => v?.containers[0]?.syscalls?.join() === '0,59',
  );
});

test('a session stopped while bpftrace is down ends with the gap open to its end', async () => {
  w = makeWorld({ flushMs: 100, intervalMs: 100 });
  w.setSyscalls([0]);
  w.fake.putPod(runningPod(w, 'web'));
  const s = session('s', { podName: 'web' });
  w.fake.putSession(s);
  await w.controller.start();
  await soon(
    'recording',
    () => entryOf(w, 's'),
    (n) => n?.containers[0]?.syscalls?.length === 1,
  );
  // The stand-in will fail to start from now on.
  w.breakBpftrace();
  process.kill(w.runs()[0].pid, 'SIGKILL');
  await soon(
    'BpftraceReady False',
    () => entryOf(w, 's')?.conditions?.[0].status,
    (v) => v === 'False',
  );
  stopSession(w, 's');
  const n = await soon(
    'final',
    () => entryOf(w, 's'),
    (v) => v?.final === true,
  );
  expect(n!.containers[0].gaps).toHaveLength(1);
  expect(n!.containers[0].gaps![0].reason).toBe('BpftraceExited');
});

test('an agent that takes over a session and never traces it ends it with the gap open to its end', async () => {
  w = makeWorld({ flushMs: 100, intervalMs: 100 });
  w.breakBpftrace();
  const { s, lastFlush } = takenOver(5000);
  w.fake.putSession(s);
  await w.controller.start();
  stopSession(w, 's');
  const n = await soon(
    'final',
    () => entryOf(w, 's'),
    (v) => v?.final === true,
  );
  const [gap, ...more] = n!.containers[0].gaps!;
  expect(more).toEqual([]);
  expect(gap).toMatchObject({ from: lastFlush, reason: 'AgentRestarted' });
  // Open until the session's final write.
  expect(Date.parse(gap.to)).toBeGreaterThan(Date.parse(lastFlush));
  expect(Date.parse(gap.to)).toBeLessThanOrEqual(Date.parse(n!.lastFlush));
  expect(n!.containers[0].syscalls).toEqual([59]);
});

test('a session that arrives while a program attaches has no gap from before it was traced', async () => {
  w = makeWorld({ flushMs: 100, intervalMs: 100 });
  w.setSyscalls([0]);
  w.fake.putPod(runningPod(w, 'web'));
  w.fake.putPod(runningPod(w, 'db'));
  // The first program takes a while to attach; the second session comes meanwhile, so that
  // program is taken without the db pod's cgroups, and another one replaces it.
  w.setAttachDelay(400);
  w.fake.putSession(session('a', { podName: 'web' }));
  await w.controller.start();
  await new Promise((r) => setTimeout(r, 100));
  w.fake.putSession(session('b', { podName: 'db' }));
  await soon(
    'b recording',
    () => entryOf(w, 'b'),
    (n) => n?.phase === 'Tracing' && n.containers[0]?.syscalls?.length === 1,
  );
  expect(w.runs().length).toBeGreaterThanOrEqual(2);
  stopSession(w, 'b');
  const n = await soon(
    'b final',
    () => entryOf(w, 'b'),
    (v) => v?.final === true,
  );
  expect(n!.containers[0].gaps).toBeUndefined();
  expect(n!.gaps).toBeUndefined();
});
