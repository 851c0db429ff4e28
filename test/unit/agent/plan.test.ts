import { assembleProgram } from '../../../lib/agent/core/assemble';
import { CgroupLayout } from '../../../lib/agent/core/cgroups';
import { DIALECTS, type Dialect } from '../../../lib/agent/core/dialect';
import {
  partsOf,
  planTargets,
  tracesSession,
  type CgroupState,
  type PlanInput,
} from '../../../lib/agent/core/plan';
import type { ProgramTargets } from '../../../lib/agent/core/program';
import type { PlannedSession } from '../../../lib/agent/core/recorder';
import { RECORDERS } from '../../../lib/agent/recorders';
import type { Pod } from '../../../lib/kube/objects';
import type { TraceTarget } from '../../../lib/session/types';
import { expectGolden, goldenJson } from '../golden';

// The test environment's node: cgroupfs driver, cgroup2 mounted at the hierarchy root.
const layout = new CgroupLayout({ mountPoint: '/sys/fs/cgroup', root: '/' }, 'cgroupfs');
const cid = (c: string) => c.repeat(64);

function pod(
  namespace: string,
  name: string,
  uid: string,
  labels: Record<string, string>,
  opts: { ips?: string[]; hostNetwork?: boolean; container?: string } = {},
): Pod {
  return {
    metadata: { namespace, name, uid, labels },
    spec: { nodeName: 'node-1', hostNetwork: opts.hostNetwork, containers: [{ name: 'main' }] },
    status: {
      phase: 'Running',
      qosClass: 'BestEffort',
      podIP: opts.ips?.[0],
      podIPs: (opts.ips ?? []).map((ip) => ({ ip })),
      containerStatuses: opts.container
        ? [{ name: 'main', containerID: `containerd://${opts.container}`, state: { running: {} } }]
        : [],
    },
  };
}

const pods = [
  pod('web', 'web-1', 'uid-web-1', { app: 'web' }, { ips: ['10.244.0.5', 'fd00::5'], container: cid('a') }),
  pod('web', 'web-host', 'uid-web-host', { app: 'web' }, { ips: ['192.168.1.10'], hostNetwork: true }),
  pod('web', 'other', 'uid-other', { app: 'other' }, { ips: ['10.244.0.6'], container: cid('b') }),
  pod('data', 'db-0', 'uid-db-0', { app: 'db' }, { ips: ['10.244.0.7'], container: cid('c') }),
];
const byUid = new Map(pods.map((p) => [p.metadata.uid ?? '', p]));

/** cgroup ids by directory, as stat() would give them. */
const ids: Record<string, string> = {
  [layout.containerDir('BestEffort', 'uid-web-1', `containerd://${cid('a')}`) ?? '']: '1001',
  [layout.containerDir('BestEffort', 'uid-other', `containerd://${cid('b')}`) ?? '']: '1002',
  [layout.containerDir('BestEffort', 'uid-db-0', `containerd://${cid('c')}`) ?? '']: '1003',
};

function session(
  type: 'seccomp' | 'network' | 'capabilities',
  namespace: string,
  target: TraceTarget,
): PlannedSession {
  return { metadata: { name: `${type}-1`, namespace }, spec: { type, target, state: 'Running' } };
}

function input(sessions: PlannedSession[], cgroups = new Map<string, CgroupState>()): PlanInput {
  return { sessions, recorders: RECORDERS, pods: byUid, cgroups, layout, cgroupIdOf: (dir) => ids[dir] };
}

/** As the agent assembles it on a kernel that serves every recorder by its first route. */
const assemble = (t: ProgramTargets, dialect: Dialect) =>
  assembleProgram(t, {
    intervalMs: 1000,
    dialect,
    arch: 'amd64',
    routes: RECORDERS.map((recorder) => ({ recorder, route: recorder.routes[0] })),
  });

const kindsOf = (t: ProgramTargets) => partsOf(t, RECORDERS).map((p) => p.recorder.type);

const traces = (t: ProgramTargets | undefined, s: PlannedSession) =>
  tracesSession(
    t,
    s,
    RECORDERS.find((r) => r.type === s.spec.type)!,
    pods,
    layout,
  );

const seccompPod = session('seccomp', 'web', { podName: 'web-1' });
const networkSelector = session('network', 'web', { selector: { matchLabels: { app: 'web' } } });

describe('the program production composes', () => {
  test.each(DIALECTS)(
    'a seccomp pod session and a network selector session share one program ($series)',
    (dialect) => {
      const plan = planTargets(input([seccompPod, networkSelector]));
      expectGolden('agent/combined-targets.json', goldenJson(plan.targets));
      const program = assemble(plan.targets, dialect);
      expectGolden(`agent/combined-program-${dialect.series}.bt`, program.text);
      // Both kinds' probes, each once.
      expect(program.text.match(/^(tracepoint:raw_syscalls:|rawtracepoint:)sys_enter /gm)).toHaveLength(1);
      expect(program.text.match(/^tracepoint:sock:inet_sock_set_state /gm)).toHaveLength(1);
      expect(program.text.match(/^tracepoint:sched:sched_process_exec /gm)).toHaveLength(1);
    },
  );

  test.each(DIALECTS)(
    'a seccomp and a capabilities session on one pod: one program, both traced, each part once ($series)',
    (dialect) => {
      const caps = session('capabilities', 'web', { podName: 'web-1' });
      const plan = planTargets(input([seccompPod, caps]));
      expect(kindsOf(plan.targets)).toEqual(['seccomp', 'capabilities']);
      const text = assemble(plan.targets, dialect).text;
      // The seccomp part's syscall set, and the capabilities part's syscall a check ran in.
      const enters = text.match(/^(tracepoint:raw_syscalls:|rawtracepoint:)sys_enter .*$/gm);
      expect(enters?.sort()).toEqual(
        dialect.syscalls === 'tracepoint'
          ? [
              'tracepoint:raw_syscalls:sys_enter /@crec[cgroup]/ {',
              'tracepoint:raw_syscalls:sys_enter /@rec[cgroup]/ {',
            ]
          : ['rawtracepoint:sys_enter /@crec[cgroup]/ {', 'rawtracepoint:sys_enter {'],
      );
      expect(text.match(/^tracepoint:capability:cap_capable /gm)).toHaveLength(1);
      for (const s of [seccompPod, caps]) expect(traces(plan.targets, s)).toBe(true);
    },
  );

  test.each(DIALECTS)('a network-only program carries none of the syscall recording ($series)', (dialect) => {
    const text = assemble(planTargets(input([networkSelector])).targets, dialect).text;
    expect(text).not.toMatch(/raw_syscalls|sys_enter \{|sys_exit_seccomp|sched_process_exec|@rec|@sc0/);
    expect(text).toMatch(/^(tracepoint:cgroup:|rawtracepoint:)cgroup_mkdir /m);
  });
});

describe('planning what to trace', () => {
  test('nothing to trace without sessions: the tracer stops bpftrace', () => {
    expect(planTargets(input([])).targets).toEqual({ seeds: [], podPrefixes: [] });
  });

  test("a pod session whose pod is on another node adds neither its kind nor anything else to this node's program", () => {
    const elsewhere = session('capabilities', 'web', { podName: 'runs-on-node-2' });
    const plan = planTargets(input([seccompPod, elsewhere])).targets;
    expect(kindsOf(plan)).toEqual(['seccomp']);
    expect(planTargets(input([elsewhere])).targets).toEqual({ seeds: [], podPrefixes: [] });
    // An open session may get a pod here any time: its kind is on the node from the start.
    const open = session('capabilities', 'web', { selector: { matchLabels: { app: 'none-yet' } } });
    expect(kindsOf(planTargets(input([seccompPod, open])).targets)).toEqual(['seccomp', 'capabilities']);
  });

  test('a pod session arms its pod only; a selector session also every new pod of the node', () => {
    const one = planTargets(input([seccompPod])).targets;
    expect(one.podPrefixes).toEqual([layout.podPrefix('BestEffort', 'uid-web-1')]);
    const open = planTargets(
      input([session('seccomp', 'web', { selector: { matchLabels: { app: 'web' } } })]),
    );
    expect(open.targets.podPrefixes).toContain(layout.nodePrefix());
  });

  test('a session covers pods of its own namespace only', () => {
    const plan = planTargets(
      input([session('seccomp', 'web', { selector: { matchLabels: { app: 'db' } } })]),
    );
    expect(plan.targets.seeds).toEqual([]);
    expect(plan.targets.podPrefixes).toEqual([layout.nodePrefix()]);
  });

  test("a hostNetwork pod's address (the node's) never attributes ingress", () => {
    const { targets } = planTargets(input([networkSelector]));
    expect(targets.extra).toEqual(['network', 'network:ip:10.244.0.5', 'network:ip:fd00::5', 'network:open']);
  });

  test('a container already running is recorded at once, and remembered as not seen from its start', () => {
    const plan = planTargets(input([seccompPod]));
    expect(plan.targets.seeds).toEqual([{ id: '1001', recording: true }]);
    expect([...plan.discovered]).toEqual([
      [
        '1001',
        {
          podUID: 'uid-web-1',
          containerID: cid('a'),
          fromStart: false,
          filterSeen: false,
          recording: true,
          dir: layout.containerDir('BestEffort', 'uid-web-1', `containerd://${cid('a')}`),
        },
      ],
    ]);
  });

  test("a known cgroup keeps its state: armed but not yet exec'd stays waiting", () => {
    const cgroups = new Map<string, CgroupState>([
      ['1001', { podUID: 'uid-web-1', fromStart: true, filterSeen: false, recording: false }],
      // Armed under the node prefix, its pod not known yet: kept while an open session runs.
      ['2001', { podUID: 'uid-new', fromStart: true, filterSeen: false, recording: true }],
    ]);
    const pod = planTargets(input([seccompPod], cgroups));
    expect(pod.targets.seeds).toEqual([{ id: '1001', recording: false }]);
    expect(pod.discovered.size).toBe(0);
    const open = planTargets(input([networkSelector], cgroups));
    expect(open.targets.seeds).toEqual([
      { id: '1001', recording: false },
      { id: '2001', recording: true },
    ]);
  });

  test('a cgroup whose filter was seen installed at its start is seeded as filtered, and its program records only filtered tasks there', () => {
    const cgroups = new Map<string, CgroupState>([
      ['1001', { podUID: 'uid-web-1', fromStart: true, filterSeen: true, recording: true }],
    ]);
    const plan = planTargets(input([seccompPod], cgroups));
    expect(plan.targets.seeds).toEqual([{ id: '1001', recording: true, filtered: true }]);
    for (const dialect of DIALECTS) {
      const text = assemble(plan.targets, dialect).text;
      expect(text).toContain('@rec[(uint64)1001] = 2;');
    }
  });
});

describe('what is seeded under pod churn', () => {
  const state = (podUID: string, extra: Partial<CgroupState> = {}): CgroupState => ({
    podUID,
    fromStart: true,
    filterSeen: false,
    recording: true,
    ...extra,
  });
  const web = session('seccomp', 'web', { selector: { matchLabels: { app: 'web' } } });

  test('a vanished cgroup is never seeded again, nor one of a deleted pod no session covers', () => {
    const cgroups = new Map<string, CgroupState>([
      ['3001', state('uid-gone-web')],
      ['3002', state('uid-gone-web', { goneAt: 1 })],
      ['3003', state('uid-gone-db')],
      ['3004', state('uid-not-seen-yet')],
    ]);
    const gonePods = new Map([
      ['uid-gone-web', pod('web', 'job-1', 'uid-gone-web', { app: 'web' })],
      ['uid-gone-db', pod('web', 'job-2', 'uid-gone-db', { app: 'db' })],
    ]);
    const { targets } = planTargets({ ...input([web], cgroups), gonePods });
    expect(targets.seeds.map((s) => s.id)).toEqual(['1001', '3001', '3004']);
  });

  test("an open session's program traces every pod under the node's prefix without one of its own", () => {
    const { targets } = planTargets(input([web]));
    const nodeOnly = { ...targets, podPrefixes: [layout.nodePrefix()] };
    expect(traces(nodeOnly, web)).toBe(true);
    expect(traces(nodeOnly, seccompPod)).toBe(true);
    expect(traces({ ...targets, podPrefixes: [] }, seccompPod)).toBe(false);
  });
});

describe('whether the attached program traces a session', () => {
  const planned = planTargets(input([networkSelector])).targets;

  test('yes once its kind, prefixes and pod addresses are in', () => {
    expect(traces(planned, networkSelector)).toBe(true);
  });

  test('no while nothing is attached, or the program predates a pod address', () => {
    expect(traces(undefined, networkSelector)).toBe(false);
    const older = { ...planned, extra: (planned.extra ?? []).filter((x) => !x.includes('fd00::5')) };
    expect(traces(older, networkSelector)).toBe(false);
  });

  test('no for a session kind the program does not carry', () => {
    expect(traces(planned, seccompPod)).toBe(false);
  });
});
