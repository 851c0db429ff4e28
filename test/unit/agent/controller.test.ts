import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BpftraceRun } from '../../../lib/agent/core/bpftrace';
import { BpftraceError } from '../../../lib/agent/core/bpftrace-error';
import { CgroupLayout } from '../../../lib/agent/core/cgroups';
import { Controller } from '../../../lib/agent/core/controller';
import { DIALECTS } from '../../../lib/agent/core/dialect';
import type { CgroupSeed, ProgramTargets } from '../../../lib/agent/core/program';
import type { TracerHooks, TracerLike } from '../../../lib/agent/core/tracer';
import { RECORDERS } from '../../../lib/agent/recorders';
import type { FlowRecord } from '../../../lib/agent/recorders/network/parse';
import type { PrivilegeEvent } from '../../../lib/agent/recorders/privileges/parse';
import { R } from '../../../lib/kube/paths';
import type { Pod } from '../../../lib/kube/objects';
import type { TraceSession } from '../../../lib/session/types';
import { eventually } from '../../support/eventually';
import { clusterWithAgent, type FakeCluster } from '../fake-cluster';
import { EVERY_PROBE, phaseOf } from './fake-world';

const INTERVAL_MS = 100;

/** Stands in for bpftrace: the test says when a program is attached and what it printed. */
class FakeTracer implements TracerLike {
  attachedTargets: ProgramTargets | undefined;
  untracedSince: Date | undefined;
  untracedCgroups = new Map<string, Date>();
  runningCount = 0;
  /** Cgroups the tests' events armed: made under the attached program's prefixes, so traced by it. */
  private readonly armed = new Set<string>();
  readonly hooks: TracerHooks;
  constructor(hooks: TracerHooks) {
    this.hooks = {
      ...hooks,
      onEvent: (e, run) => {
        if (e.kind === 'armed') this.armed.add(e.cgroup);
        hooks.onEvent(e, run);
      },
    };
  }
  async reconcile(): Promise<void> {}
  async close(): Promise<void> {}
  async drained(): Promise<boolean> {
    return true;
  }
  /** The attached program traces the cgroups it was seeded with and those it armed. */
  untraced(seeds: readonly CgroupSeed[]): string[] {
    const seeded = new Set(this.attachedTargets?.seeds.map((s) => s.id));
    return seeds.filter((s) => !seeded.has(s.id) && !this.armed.has(s.id)).map((s) => s.id);
  }
  attach(): void {
    this.attachedTargets = this.hooks.targets();
    this.hooks.onAttached?.();
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function agentWithSession(
  privilegeProblem?: string,
  cgroupMount = '/sys/fs/cgroup',
): Promise<{ c: FakeCluster; ctl: Controller; tracer: FakeTracer }> {
  const c = clusterWithAgent();
  c.put(R.tracesessions, {
    apiVersion: 'harden.dev/v1alpha1',
    kind: 'TraceSession',
    metadata: { name: 'np-1', namespace: 'web' },
    spec: { type: 'network', target: { podName: 'web-1' }, state: 'Running' },
  } as TraceSession);
  let tracer: FakeTracer | undefined;
  const ctl = new Controller(c.kube('harden-system'), {
    node: 'node-1',
    arch: 'amd64',
    bpftrace: { binary: 'bpftrace', version: 'test', dialect: DIALECTS[0] },
    recorders: RECORDERS,
    kernel: EVERY_PROBE,
    layout: new CgroupLayout({ mountPoint: cgroupMount, root: '/' }, 'cgroupfs'),
    flushMs: 60_000,
    intervalMs: INTERVAL_MS,
    log: () => undefined,
    privilegeProblem,
    tracer: (hooks) => (tracer = new FakeTracer(hooks)),
  });
  await ctl.start();
  tracer?.attach();
  await pause(20);
  return { c, ctl, tracer: tracer as FakeTracer };
}

/** The session kinds the program the agent wants now is built for. */
const kindsOfAttached = (tracer: FakeTracer) => tracer.hooks.targets().extra ?? [];

const entry = (c: FakeCluster) => c.session('web', 'np-1')?.status?.nodes?.[0];

const capabilities = (name: string, target: TraceSession['spec']['target']): TraceSession => ({
  apiVersion: 'harden.dev/v1alpha1',
  kind: 'TraceSession',
  metadata: { name, namespace: 'web' },
  spec: { type: 'capabilities', target, state: 'Running' },
});

/** Created through the API, so the agent's watches see them. */
async function create(c: FakeCluster, pod: Pod, session: TraceSession): Promise<void> {
  await c.kube('web').request('POST', '/api/v1/namespaces/web/pods', { body: pod });
  await c
    .kube('web')
    .request('POST', '/apis/harden.dev/v1alpha1/namespaces/web/tracesessions', { body: session });
}

/** A pod on node-1 whose one container, main, runs as container `id`. */
const runningPod = (name: string, uid: string, id: string, labels?: Record<string, string>): Pod =>
  ({
    metadata: { name, namespace: 'web', uid, ...(labels ? { labels } : {}) },
    spec: { nodeName: 'node-1', containers: [{ name: 'main' }] },
    status: {
      phase: 'Running',
      qosClass: 'BestEffort',
      containerStatuses: [{ name: 'main', containerID: `containerd://${id}`, state: { running: {} } }],
    },
  }) as Pod;

/** The credentials a capabilities program printed for a cgroup. */
const cred = (cgroup: string, id: number): PrivilegeEvent => ({
  cgroup,
  count: 1,
  kind: 'cred',
  uid: id,
  gid: id,
  euid: id,
  egid: id,
  capEffective: 0n,
  runtime: false,
});

/**
 * Stops session np-1, then has the tracer print one TCP ingress to 10.244.0.5 (bpftrace's last
 * interval, after the agent saw the stop): the final flush's entry.
 */
async function stopWithIngress(
  c: Awaited<ReturnType<typeof agentWithSession>>['c'],
  tracer: Awaited<ReturnType<typeof agentWithSession>>['tracer'],
  at: { localPort: number; remoteIP: string },
) {
  await c.kube('web').mergePatch(`/apis/harden.dev/v1alpha1/namespaces/web/tracesessions/np-1`, {
    spec: { state: 'Stopped' },
  });
  const ingress: FlowRecord = {
    direction: 'ingress',
    proto: 'TCP',
    localIP: '10.244.0.5',
    remotePort: 0,
    count: 1,
    ...at,
  };
  tracer.hooks.onEvent({ kind: 'recorded', recorder: 'network', events: [ingress] }, {} as BpftraceRun);
  return eventually(
    async () => entry(c),
    (e) => e?.final === true,
    { what: 'the final flush', withinMs: 5000, everyMs: 50 },
  );
}

describe('the session controller', () => {
  test("a condition's lastTransitionTime changes only with its status", async () => {
    const { c, ctl, tracer } = await agentWithSession();
    try {
      expect(phaseOf(c.session('web', 'np-1'))).toBe('Tracing');
      const first = entry(c)?.conditions?.[0];
      expect(first).toMatchObject({ type: 'BpftraceReady', status: 'True' });
      await pause(20);
      await ctl.flush();
      expect(entry(c)?.lastFlush).not.toBe(undefined);
      expect(entry(c)?.conditions?.[0].lastTransitionTime).toBe(first?.lastTransitionTime);

      await pause(20);
      tracer.hooks.onHealth(new BpftraceError('bpftrace exited unexpectedly', 'boom'));
      await pause(20);
      const failed = entry(c)?.conditions?.[0];
      expect(failed).toMatchObject({ status: 'False', reason: 'BpftraceFailed', message: 'boom' });
      expect(failed?.lastTransitionTime).not.toBe(first?.lastTransitionTime);
    } finally {
      await ctl.close();
    }
  });

  test('an agent without the capabilities to trace says so before what bpftrace printed', async () => {
    const { c, ctl, tracer } = await agentWithSession('the agent runs without CAP_SYS_ADMIN');
    try {
      tracer.hooks.onHealth(new BpftraceError('bpftrace exited with 1', 'ERROR: helper not available'));
      await pause(20);
      expect(entry(c)?.conditions?.[0]).toMatchObject({
        status: 'False',
        message: 'the agent runs without CAP_SYS_ADMIN\nERROR: helper not available',
      });
    } finally {
      await ctl.close();
    }
  });

  test('the final flush, one interval after the stop, holds what was printed in that interval', async () => {
    const { c, ctl, tracer } = await agentWithSession();
    try {
      const final = await stopWithIngress(c, tracer, { localPort: 80, remoteIP: '10.244.0.9' });
      expect(final?.flows?.map((f) => `${f.pod} ${f.direction} ${f.remoteIP}->${f.localPort}`)).toEqual([
        'web-1 ingress 10.244.0.9->80',
      ]);
      expect(phaseOf(c.session('web', 'np-1'))).toBe('Completed');
    } finally {
      await ctl.close();
    }
  });

  test("a finished target pod's address, reused by another namespace's pod, credits it no ingress", async () => {
    const { c, ctl, tracer } = await agentWithSession();
    try {
      // web-1 finished (a Job's run keeps its status.podIP); the CNI gave 10.244.0.5 to other/db-1.
      await c.kube('web').mergePatch('/api/v1/namespaces/web/pods/web-1', { status: { phase: 'Succeeded' } });
      await c.kube('other').request('POST', '/api/v1/namespaces/other/pods', {
        body: {
          metadata: { name: 'db-1', namespace: 'other', uid: 'uid-db-1' },
          spec: { nodeName: 'node-1', containers: [{ name: 'db' }] },
          status: { phase: 'Running', podIP: '10.244.0.5' },
        },
      });
      await pause(20);
      const final = await stopWithIngress(c, tracer, { localPort: 5432, remoteIP: '10.244.0.99' });
      expect(final?.flows ?? []).toEqual([]);
    } finally {
      await ctl.close();
    }
  });

  test('a capabilities session: privilege events of its container become its record, with the mounts its spec names', async () => {
    const { c, ctl, tracer } = await agentWithSession();
    try {
      const uid = '00000000-0000-0000-0000-0000000000aa';
      const id = 'a'.repeat(64);
      // Created through the API, so the agent's pod watch sees it.
      const pod = {
        metadata: { name: 'cache-1', namespace: 'web', uid, labels: { app: 'cache' } },
        spec: {
          nodeName: 'node-1',
          containers: [
            { name: 'redis', volumeMounts: [{ name: 'data', mountPath: '/data' }] },
            { name: 'sidecar' },
          ],
        },
        status: {
          phase: 'Running',
          qosClass: 'BestEffort',
          containerStatuses: [
            { name: 'redis', containerID: `containerd://${id}`, state: { running: {} } },
            { name: 'sidecar', containerID: `containerd://${'b'.repeat(64)}`, state: { running: {} } },
          ],
        },
      } as Pod;
      await create(c, pod, capabilities('cap-1', { podName: 'cache-1', containers: ['redis'] }));
      await pause(20);
      const run = {} as BpftraceRun;
      // Both containers armed from their start; only redis is a target container.
      tracer.hooks.onEvent(
        { kind: 'armed', cgroup: '77', path: `/kubepods/besteffort/pod${uid}/${id}` },
        run,
      );
      tracer.hooks.onEvent(
        { kind: 'armed', cgroup: '78', path: `/kubepods/besteffort/pod${uid}/${'b'.repeat(64)}` },
        run,
      );
      tracer.hooks.onEvent({ kind: 'exec', cgroup: '77' }, run);
      const creds = [cred('77', 999), cred('78', 0), cred('99', 0)];
      tracer.hooks.onEvent({ kind: 'recorded', recorder: 'capabilities', events: creds }, run);
      await ctl.flush();
      const mine = c.session('web', 'cap-1')?.status?.nodes?.[0];
      expect(mine?.privileges).toEqual([
        expect.objectContaining({
          pod: 'cache-1',
          container: 'redis',
          containerID: `containerd://${id}`,
          recordedFromStart: true,
          mounts: ['/data'],
          credentials: [{ uid: 999, gid: 999, euid: 999, egid: 999, capEffective: '0x0', count: 1 }],
        }),
      ]);
      // Which target containers were traced, how completely: for every kind; no syscalls field but seccomp's.
      expect(mine?.containers).toEqual([
        expect.objectContaining({ container: 'redis', recordedFromStart: true, filterSeen: false }),
      ]);
      expect(mine?.containers[0]).not.toHaveProperty('syscalls');
      expect(kindsOfAttached(tracer)).toContain('capabilities');
    } finally {
      await ctl.close();
    }
  });

  test("an init container's records carry its name (its status is among initContainerStatuses)", async () => {
    const { c, ctl, tracer } = await agentWithSession();
    try {
      const uid = '00000000-0000-0000-0000-0000000000cc';
      const [init, main] = ['d'.repeat(64), 'e'.repeat(64)];
      const pod = {
        metadata: { name: 'db-1', namespace: 'web', uid, labels: { app: 'db' } },
        spec: { nodeName: 'node-1', initContainers: [{ name: 'migrate' }], containers: [{ name: 'main' }] },
        status: {
          phase: 'Running',
          qosClass: 'BestEffort',
          initContainerStatuses: [
            { name: 'migrate', containerID: `containerd://${init}`, state: { terminated: {} } },
          ],
          containerStatuses: [{ name: 'main', containerID: `containerd://${main}`, state: { running: {} } }],
        },
      } as Pod;
      await create(c, pod, capabilities('cap-3', { podName: 'db-1' }));
      await pause(20);
      const run = {} as BpftraceRun;
      tracer.hooks.onEvent(
        { kind: 'armed', cgroup: '91', path: `/kubepods/besteffort/pod${uid}/${init}` },
        run,
      );
      tracer.hooks.onEvent({ kind: 'exec', cgroup: '91' }, run);
      tracer.hooks.onEvent({ kind: 'recorded', recorder: 'capabilities', events: [cred('91', 0)] }, run);
      await ctl.flush();
      const mine = c.session('web', 'cap-3')?.status?.nodes?.[0];
      expect(mine?.privileges).toEqual([
        expect.objectContaining({ pod: 'db-1', container: 'migrate', recordedFromStart: true }),
      ]);
    } finally {
      await ctl.close();
    }
  });

  test("a pod session's capabilities events printed after its pod's DELETED are kept: a container's last sets come after it", async () => {
    const { c, ctl, tracer } = await agentWithSession();
    try {
      const uid = '00000000-0000-0000-0000-0000000000bb';
      const id = 'c'.repeat(64);
      await create(c, runningPod('job-1', uid, id), capabilities('cap-2', { podName: 'job-1' }));
      await pause(20);
      const run = {} as BpftraceRun;
      tracer.hooks.onEvent(
        { kind: 'armed', cgroup: '88', path: `/kubepods/besteffort/pod${uid}/${id}` },
        run,
      );
      tracer.hooks.onEvent({ kind: 'exec', cgroup: '88' }, run);
      await c.kube('web').request('DELETE', '/api/v1/namespaces/web/pods/job-1');
      await pause(20);
      // The program's next print (or its END, as it is stopped) comes after the DELETED.
      tracer.hooks.onEvent({ kind: 'recorded', recorder: 'capabilities', events: [cred('88', 0)] }, run);
      await ctl.flush();
      const mine = c.session('web', 'cap-2')?.status?.nodes?.[0];
      expect(mine?.privileges).toEqual([
        expect.objectContaining({
          pod: 'job-1',
          credentials: [expect.objectContaining({ uid: 0, count: 1 })],
        }),
      ]);
    } finally {
      await ctl.close();
    }
  });

  test('a program in service for an open session arms the pods made after it, not the containers already running: a session on those is Tracing only once a program seeds them', async () => {
    const mount = mkdtempSync(join(tmpdir(), 'harden-cgroups-'));
    const { c, ctl, tracer } = await agentWithSession(undefined, mount);
    try {
      // An open session's program: the node's prefix, so every pod cgroup made from now on is armed.
      await c.kube('web').request('POST', '/apis/harden.dev/v1alpha1/namespaces/web/tracesessions', {
        body: capabilities('cap-open', { selector: { matchLabels: { app: 'other' } } }),
      });
      await pause(20);
      tracer.attach();
      // A pod already running (its container's cgroup exists), then a session on it.
      const uid = '00000000-0000-0000-0000-0000000000dd';
      const id = 'f'.repeat(64);
      mkdirSync(join(mount, 'kubepods', 'besteffort', `pod${uid}`, id), { recursive: true });
      await create(
        c,
        runningPod('api-1', uid, id, { app: 'api' }),
        capabilities('cap-api', { selector: { matchLabels: { app: 'api' } } }),
      );
      await pause(20);
      await ctl.flush();
      // The program in service would arm the pod's new cgroups, but its running container is not
      // in its seeds: what it does now (its shutdown, say) would go unrecorded.
      expect(phaseOf(c.session('web', 'cap-api'))).toBe('Pending');
      tracer.attach();
      await pause(20);
      await ctl.flush();
      expect(phaseOf(c.session('web', 'cap-api'))).toBe('Tracing');
    } finally {
      await ctl.close();
      rmSync(mount, { recursive: true, force: true });
    }
  });
});
