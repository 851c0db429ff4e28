// The network recorder attributes ingress by local address: a Job's finished pod keeps its
// status.podIP after the CNI gave the address to another pod, which must not be recorded for it.
import type { BpftraceRun } from '../../../lib/agent/core/bpftrace';
import { CgroupLayout } from '../../../lib/agent/core/cgroups';
import { Controller } from '../../../lib/agent/core/controller';
import { DIALECTS } from '../../../lib/agent/core/dialect';
import type { ProgramTargets, CgroupSeed } from '../../../lib/agent/core/program';
import type { TracerHooks, TracerLike } from '../../../lib/agent/core/tracer';
import { RECORDERS } from '../../../lib/agent/recorders';
import type { FlowRecord } from '../../../lib/agent/recorders/network/parse';
import { R } from '../../../lib/kube/paths';
import type { Pod } from '../../../lib/kube/objects';
import type { TraceSession } from '../../../lib/session/types';
import { clusterWithAgent } from '../fake-cluster';
import { EVERY_PROBE } from './fake-world';

class FakeTracer implements TracerLike {
  attachedTargets: ProgramTargets | undefined;
  untracedSince: Date | undefined;
  untracedCgroups = new Map<string, Date>();
  runningCount = 0;
  constructor(readonly hooks: TracerHooks) {}
  async reconcile() {}
  async close() {}
  async drained() {
    return true;
  }
  untraced(_s: readonly CgroupSeed[]): string[] {
    return [];
  }
  attach() {
    this.attachedTargets = this.hooks.targets();
    this.hooks.onAttached?.();
  }
}
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a finished target pod's address, reused by another namespace's pod, credits it no ingress", async () => {
  const c = clusterWithAgent();
  c.put(R.namespaces, { metadata: { name: 'other' } });
  c.put(R.pods, {
    metadata: { name: 'job-1', namespace: 'web', uid: 'uid-job-1', labels: { app: 'job' } },
    spec: { nodeName: 'node-1', containers: [{ name: 'main' }] },
    status: { phase: 'Succeeded', podIP: '10.244.0.7' },
  } as Pod);
  c.put(R.pods, {
    metadata: { name: 'secret-db', namespace: 'other', uid: 'uid-db' },
    spec: { nodeName: 'node-1', containers: [{ name: 'db' }] },
    status: { phase: 'Running', podIP: '10.244.0.7' },
  } as Pod);
  c.put(R.tracesessions, {
    apiVersion: 'harden.dev/v1alpha1',
    kind: 'TraceSession',
    metadata: { name: 'np-1', namespace: 'web', uid: 's1' },
    spec: { type: 'network', target: { selector: { matchLabels: { app: 'job' } } }, state: 'Running' },
  } as TraceSession);
  let tracer: FakeTracer | undefined;
  const ctl = new Controller(c.kube('harden-system'), {
    node: 'node-1',
    arch: 'amd64',
    bpftrace: { binary: 'bpftrace', version: 'test', dialect: DIALECTS[0] },
    recorders: RECORDERS,
    kernel: EVERY_PROBE,
    layout: new CgroupLayout({ mountPoint: '/sys/fs/cgroup', root: '/' }, 'cgroupfs'),
    flushMs: 60_000,
    intervalMs: 100,
    log: () => undefined,
    tracer: (hooks) => (tracer = new FakeTracer(hooks)),
  });
  await ctl.start();
  tracer!.attach();
  await pause(20);
  const ingress: FlowRecord = {
    direction: 'ingress',
    proto: 'TCP',
    localIP: '10.244.0.7',
    localPort: 5432,
    remoteIP: '10.244.0.99',
    remotePort: 0,
    count: 1,
  };
  tracer!.hooks.onEvent({ kind: 'recorded', recorder: 'network', events: [ingress] }, {} as BpftraceRun);
  await c.kube('web').mergePatch('/apis/harden.dev/v1alpha1/namespaces/web/tracesessions/np-1', {
    spec: { state: 'Stopped' },
  });
  await pause(500);
  await ctl.flush();
  const s = c.session('web', 'np-1');
  await ctl.close();
  expect(s?.status?.nodes?.[0]?.flows ?? []).toEqual([]);
});
