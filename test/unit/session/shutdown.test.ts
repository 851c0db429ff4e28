// --include-shutdown's pure parts: which pod of each workload is stopped (and which workloads are
// left alone, and why), and what is said once a pod is gone.
import type { Pod } from '../../../lib/kube/objects';
import { describeStop, graceOf, planShutdowns, tracedPods } from '../../../lib/session/shutdown';
import type { TraceSession } from '../../../lib/session/types';

const ready = { conditions: [{ type: 'Ready', status: 'True' }] };

function pod(
  name: string,
  opts: {
    owner?: [string, string];
    hash?: string;
    created?: string;
    ready?: boolean;
    phase?: string;
    deleting?: boolean;
    grace?: number;
  } = {},
): Pod {
  return {
    metadata: {
      name,
      namespace: 'web',
      uid: `uid-${name}`,
      creationTimestamp: opts.created ?? '2026-01-01T00:00:00Z',
      ...(opts.hash ? { labels: { 'pod-template-hash': opts.hash } } : {}),
      ...(opts.owner
        ? { ownerReferences: [{ kind: opts.owner[0], name: opts.owner[1], controller: true }] }
        : {}),
      ...(opts.deleting ? { deletionTimestamp: '2026-01-01T00:01:00Z' } : {}),
    },
    spec: {
      containers: [{ name: 'main' }],
      ...(opts.grace !== undefined ? { terminationGracePeriodSeconds: opts.grace } : {}),
    },
    status: { phase: opts.phase ?? 'Running', ...(opts.ready === false ? {} : ready) },
  };
}

const chosen = (plan: ReturnType<typeof planShutdowns>) =>
  plan.map((c) => ('pod' in c ? `${c.workload}: ${c.pod.metadata.name}` : `${c.workload}: skip`));

describe('planShutdowns', () => {
  const rs = (name: string, created: string, more: Parameters<typeof pod>[1] = {}) =>
    pod(name, { owner: ['ReplicaSet', 'api-7c9f'], hash: '7c9f', created, ...more });

  test('one pod per workload: a traced one first, then Ready, then the oldest', () => {
    const a = rs('api-7c9f-aaaaa', '2026-01-01T00:00:02Z');
    const b = rs('api-7c9f-bbbbb', '2026-01-01T00:00:01Z');
    // Untraced: the oldest.
    expect(chosen(planShutdowns([a, b], new Set()))).toEqual(['deployment/api: api-7c9f-bbbbb']);
    // Traced beats older.
    expect(chosen(planShutdowns([a, b], new Set(['uid-api-7c9f-aaaaa'])))).toEqual([
      'deployment/api: api-7c9f-aaaaa',
    ]);
    // Ready beats older.
    const notReady = rs('api-7c9f-ccccc', '2026-01-01T00:00:00Z', { ready: false });
    expect(chosen(planShutdowns([a, notReady], new Set()))).toEqual(['deployment/api: api-7c9f-aaaaa']);
  });

  test('pods already terminating or not running are never chosen', () => {
    const gone = rs('api-7c9f-aaaaa', '2026-01-01T00:00:00Z', { deleting: true });
    const pending = rs('api-7c9f-bbbbb', '2026-01-01T00:00:00Z', { phase: 'Pending' });
    const running = rs('api-7c9f-ccccc', '2026-01-01T00:00:09Z');
    expect(chosen(planShutdowns([gone, pending, running], new Set()))).toEqual([
      'deployment/api: api-7c9f-ccccc',
    ]);
    expect(planShutdowns([gone, pending], new Set())).toEqual([]);
  });

  test('StatefulSets, DaemonSets and bare ReplicaSets are restarted; bare pods and Jobs are not, with the reason', () => {
    const plan = planShutdowns(
      [
        pod('db-0', { owner: ['StatefulSet', 'db'] }),
        pod('db-1', { owner: ['StatefulSet', 'db'], created: '2026-01-02T00:00:00Z' }),
        pod('logs-x1', { owner: ['DaemonSet', 'logs'] }),
        pod('cache-abcde', { owner: ['ReplicaSet', 'cache'] }),
        pod('debug'),
        pod('migrate-q7', { owner: ['Job', 'migrate'] }),
      ],
      new Set(),
    );
    expect(chosen(plan)).toEqual([
      'daemonset/logs: logs-x1',
      'job/migrate: skip',
      'pod/debug: skip',
      'replicaset/cache: cache-abcde',
      'statefulset/db: db-0',
    ]);
    const skip = (w: string) => {
      const c = plan.find((x) => x.workload === w);
      return c && 'skip' in c ? c.skip : '';
    };
    expect(skip('pod/debug')).toMatch(
      /^a bare pod is not restartable \(no controller would replace it\), so it is not stopped/,
    );
    expect(skip('job/migrate')).toMatch(/^its owner Job does not put a new pod in place of a deleted one/);
  });
});

describe('what is said', () => {
  test('a pod gone within its grace period: how long it took', () => {
    expect(describeStop('deployment/api', 'api-1', 1234, 30)).toBe(
      'deployment/api: pod api-1 stopped in 1.2s (grace period 30s)',
    );
  });

  test('a pod that took its whole grace period was most likely SIGKILLed', () => {
    expect(describeStop('deployment/api', 'api-1', 30_400, 30)).toBe(
      'warning: deployment/api: pod api-1 took 30.4s, its whole grace period of 30s: kubelet most likely ' +
        'SIGKILLed it, so its shutdown path did not run to the end (stop says what the records show)',
    );
  });

  test("the grace period is the pod's own, else the API's default of 30s", () => {
    expect(graceOf(pod('a', { grace: 5 }))).toBe(5);
    expect(graceOf(pod('a', { grace: 0 }))).toBe(0);
    expect(graceOf(pod('a'))).toBe(30);
  });
});

describe('tracedPods', () => {
  test("a pod is traced once any of a node's per-container lists names it (container records, or a recorder's own)", () => {
    const node = (extra: object) => ({
      node: 'n',
      arch: 'amd64',
      agentVersion: 't',
      lastFlush: '',
      final: false,
      containers: [{ podUID: 'a' }],
      ...extra,
    });
    const s = {
      status: {
        nodes: [node({}), node({ containers: [], privileges: [{ podUID: 'b' }], gaps: [{ from: '' }] })],
      },
    } as unknown as TraceSession;
    expect([...tracedPods(s)].sort()).toEqual(['a', 'b']);
  });
});
