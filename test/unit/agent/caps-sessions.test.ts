// Capabilities sessions driven through the agent with a bpftrace stand-in that prints no privilege
// event at all: what an idle non-root server (redis serving SET as uid 100, all capabilities
// dropped) gives a session started on its running pod. Issue 14: such sessions said "recorded no
// container" on the node.
jest.setTimeout(30_000);

import type { TraceSession } from '../../../lib/session/types';
import {
  entryOf,
  makeWorld,
  mkdirLine,
  sleep,
  runningPod,
  session,
  soon,
  startTracing,
  stopSession,
  type World,
  phaseOf,
} from './fake-world';

let w: World;
afterEach(() => w?.close());

const capabilities = (name: string, target: TraceSession['spec']['target']): TraceSession => {
  const s = session(name, target);
  return { ...s, spec: { ...s.spec, type: 'capabilities' } };
};

const finalEntry = (name: string) =>
  soon(
    `the final flush of ${name}`,
    () => entryOf(w, name),
    (n) => n?.final === true,
  );

test('a seccomp and a capabilities session on a running pod at once: the capabilities one records its container though it made no privileged call', async () => {
  w = makeWorld({ flushMs: 100, intervalMs: 100 });
  w.setSyscalls([0, 1]);
  const pod = runningPod(w, 'redis', { app: 'redis' });
  await w.fake.putPod(pod);
  await w.fake.putSession(session('sc', { podName: 'redis' }));
  await startTracing(w, 'sc');
  await w.fake.putSession(capabilities('cap', { podName: 'redis' }));
  await soon(
    'the capabilities session traced',
    () => phaseOf(w.fake.session('cap')),
    (p) => p === 'Tracing',
  );
  stopSession(w, 'sc');
  expect((await finalEntry('sc'))?.containers.map((c) => c.container)).toEqual(['main']);
  stopSession(w, 'cap');
  const cap = await finalEntry('cap');
  expect(cap?.privileges).toEqual([
    {
      pod: 'redis',
      podUID: pod.metadata.uid,
      workload: 'redis',
      container: 'main',
      containerID: pod.status?.containerStatuses?.[0].containerID,
      // It ran before the session: its start-up was not seen, and the advice must say so.
      recordedFromStart: false,
      mounts: [],
      credentials: [],
      idChanges: [],
      capChecks: [],
      execs: [],
      writes: [],
    },
  ]);
});

test('a capabilities session alone on a running pod that makes no privileged call records its container, not from its start', async () => {
  w = makeWorld({ flushMs: 100, intervalMs: 100 });
  const pod = runningPod(w, 'redis');
  await w.fake.putPod(pod);
  await w.fake.putSession(capabilities('cap', { podName: 'redis' }));
  await startTracing(w, 'cap');
  stopSession(w, 'cap');
  const cap = await finalEntry('cap');
  expect(cap?.privileges?.map((p) => `${p.pod}/${p.container} fromStart=${p.recordedFromStart}`)).toEqual([
    'redis/main fromStart=false',
  ]);
});

test("issue 14's order on one agent: after a concurrent pair and a pod session, an open capabilities session is traced and records the running pod", async () => {
  w = makeWorld({ flushMs: 100, intervalMs: 100 });
  w.setSyscalls([0]);
  const pod = runningPod(w, 'redis', { app: 'redis' });
  await w.fake.putPod(pod);
  await w.controller.start();
  const traced = (name: string) =>
    soon(
      `${name} traced`,
      () => phaseOf(w.fake.session(name)),
      (p) => p === 'Tracing',
    );
  await w.fake.putSession(session('sc', { podName: 'redis' }));
  await traced('sc');
  await w.fake.putSession(capabilities('cap-a', { podName: 'redis' }));
  await traced('cap-a');
  stopSession(w, 'sc');
  await finalEntry('sc');
  stopSession(w, 'cap-a');
  await finalEntry('cap-a');
  await w.fake.putSession(capabilities('cap-b', { podName: 'redis' }));
  await traced('cap-b');
  stopSession(w, 'cap-b');
  await finalEntry('cap-b');
  await w.fake.putSession(capabilities('cap-c', { selector: { matchLabels: { app: 'redis' } } }));
  await traced('cap-c');
  stopSession(w, 'cap-c');
  expect((await finalEntry('cap-c'))?.privileges?.map((p) => p.pod)).toEqual(['redis']);
});

test('an open capabilities session keeps what a new pod did before its watch event came: its record is from its start, with its credentials', async () => {
  w = makeWorld({ flushMs: 100, intervalMs: 100 });
  w.reportCredentials();
  await w.fake.putSession(capabilities('cap', { selector: { matchLabels: { app: 'web' } } }));
  await w.controller.start();
  await soon(
    'the capabilities session traced',
    () => phaseOf(w.fake.session('cap')),
    (p) => p === 'Tracing',
  );
  // The pod's cgroup is made and runs (several prints) before the API server tells the agent of it.
  const pod = runningPod(w, 'web', { app: 'web' });
  w.arm([mkdirLine(w, pod)]);
  await sleep(500);
  await w.fake.putPod(pod);
  await soon(
    'its record',
    () => entryOf(w, 'cap')?.privileges ?? [],
    (r) => r.length > 0,
  );
  stopSession(w, 'cap');
  const cap = await finalEntry('cap');
  expect(cap?.privileges?.map((r) => r.recordedFromStart)).toEqual([true]);
  expect(cap?.privileges?.[0].credentials[0]).toMatchObject({ uid: 0, euid: 0 });
});
