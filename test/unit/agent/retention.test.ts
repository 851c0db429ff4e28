import type { Pod } from '../../../lib/kube/objects';
import type { CgroupState } from '../../../lib/agent/core/plan';
import {
  prune,
  type GonePod,
  type NodeMemory,
  type RetentionPolicy,
} from '../../../lib/agent/core/retention';

const cg = (podUID: string, dir: string, extra: Partial<CgroupState> = {}): CgroupState => ({
  podUID,
  dir,
  fromStart: true,
  filterSeen: false,
  recording: true,
  ...extra,
});
const gonePod = (uid: string, at: number): GonePod => ({ pod: { metadata: { name: uid, uid } } as Pod, at });

function memory(): NodeMemory {
  return {
    cgroups: new Map([
      ['1', cg('live', '/cg/live/1')],
      ['2', cg('gone', '/cg/gone/2')],
      ['3', cg('gone', '/cg/gone/3')],
    ]),
    gone: new Map([['gone', gonePod('gone', 0)]]),
    identities: new Map([
      ['c1', { podUID: 'live' }],
      ['c2', { podUID: 'gone' }],
      ['c9', { podUID: 'long-gone' }],
    ]),
  };
}

const policy = (over: Partial<RetentionPolicy>): RetentionPolicy => ({
  now: 1000,
  tracing: true,
  livePods: new Set(['live']),
  exists: (dir) => dir.startsWith('/cg/live') || dir === '/cg/gone/3',
  pending: () => false,
  graceMs: 300,
  pendingMaxMs: 60_000,
  ...over,
});

test('a vanished cgroup is kept for a grace (its last print may still come), then dropped with its pod', () => {
  const m = memory();
  expect(prune(m, policy({ now: 1000 }))).toEqual({ cgroups: [], pods: [], identities: 1 });
  expect(m.cgroups.get('2')?.goneAt).toBe(1000);
  expect(m.cgroups.get('3')?.goneAt).toBeUndefined(); // its pod is deleted, its container still runs
  expect([...m.identities.keys()]).toEqual(['c1', 'c2']);
  expect(prune(m, policy({ now: 1299 })).cgroups).toEqual([]);
  expect(prune(m, policy({ now: 1300 })).cgroups).toEqual(['2']);
  // Cgroup 3 still runs: the deleted pod stays, for its attribution.
  expect(m.gone.has('gone')).toBe(true);
  const exists = (dir: string) => dir.startsWith('/cg/live');
  prune(m, policy({ now: 2000, exists }));
  expect(prune(m, policy({ now: 2300, exists }))).toEqual({ cgroups: ['3'], pods: ['gone'], identities: 1 });
  expect([...m.cgroups.keys()]).toEqual(['1']);
  expect([...m.identities.keys()]).toEqual(['c1']);
});

test('sets waiting for their identity keep a vanished cgroup, up to a limit', () => {
  const m = memory();
  const pending = (id: string) => id === '2';
  prune(m, policy({ now: 1000, pending }));
  expect(prune(m, policy({ now: 5000, pending })).cgroups).toEqual([]);
  expect(prune(m, policy({ now: 61_000, pending })).cgroups).toEqual(['2']);
});

test('once nothing is traced, nothing is remembered but what the live pods name', () => {
  const m = memory();
  expect(prune(m, policy({ tracing: false }))).toEqual({
    cgroups: ['1', '2', '3'],
    pods: ['gone'],
    identities: 2,
  });
  expect(m.cgroups.size + m.gone.size).toBe(0);
  expect([...m.identities.keys()]).toEqual(['c1']);
});
