/**
 * The replay seam (lib/agent/core/replay.ts): recorded output, its placeholders filled in with the
 * seeded cgroups, must reach the controller's hooks as the real parser's events for those cgroups,
 * and only for the maps the program assembled for the targets prints.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assembleProgram } from '../../../lib/agent/core/assemble';
import { DIALECTS } from '../../../lib/agent/core/dialect';
import type { TraceEvent } from '../../../lib/agent/core/output';
import type { ProgramTargets } from '../../../lib/agent/core/program';
import { printedMaps, recordingLines, replayLines, ReplayTracer } from '../../../lib/agent/core/replay';
import { chooseRoutes } from '../../../lib/agent/core/support';
import type { TracerHooks } from '../../../lib/agent/core/tracer';
import { RECORDERS } from '../../../lib/agent/recorders';
import type { FlowRecord } from '../../../lib/agent/recorders/network/parse';
import type { SyscallEvent } from '../../../lib/agent/recorders/syscalls/parse';
import { GOLDEN_DIR } from '../golden';
import { EVERY_PROBE } from './fake-world';

const RECORDING = recordingLines(
  fs.readFileSync(path.join(GOLDEN_DIR, 'agent/replay-recording.jsonl'), 'utf8'),
);
const dialect = DIALECTS[DIALECTS.length - 1];
const support = chooseRoutes(RECORDERS, EVERY_PROBE, { node: 'n', arch: 'amd64', dialect });
const routes = [...support.values()].flatMap((s) =>
  s.route ? [{ recorder: s.recorder, route: s.route }] : [],
);

/** Hooks whose targets the test sets, with the agent's own program assembly. */
function hooks(targets: () => ProgramTargets, events: TraceEvent[]): TracerHooks & { attached: number } {
  const h = {
    attached: 0,
    targets,
    program: (t: ProgramTargets) => assembleProgram(t, { intervalMs: 1000, dialect, arch: 'amd64', routes }),
    onEvent: (e: TraceEvent) => void events.push(e),
    onHealth: () => undefined,
    onAttached: () => void h.attached++,
  };
  return h;
}

const ADDRS: Record<string, { ip4: string; ip6: string }> = {
  '1001': { ip4: '10.9.0.1', ip6: 'fd00:9::1' },
  '1002': { ip4: '10.9.0.2', ip6: 'fd00:9::2' },
};

const both: ProgramTargets = {
  seeds: [
    { id: '1001', recording: true },
    { id: '1002', recording: true },
    // Armed, its exec not seen yet: the real program would record nothing of it.
    { id: '1003', recording: false },
  ],
  podPrefixes: [],
  extra: ['seccomp', 'network', 'network:open', 'network:ip:10.9.0.1', 'network:ip:10.9.0.2'],
};

const syscallsOf = (events: TraceEvent[]) => {
  const by = new Map<string, Set<number>>();
  for (const e of events)
    if (e.kind === 'recorded' && e.recorder === 'seccomp')
      for (const s of e.events as SyscallEvent[])
        by.set(s.cgroup, new Set([...(by.get(s.cgroup) ?? []), ...s.nrs]));
  return by;
};
const flowsOf = (events: TraceEvent[]) =>
  events.flatMap((e) =>
    e.kind === 'recorded' && e.recorder === 'network' ? (e.events as FlowRecord[]) : [],
  );

describe('the replay tracer', () => {
  test('the recording names the maps the real program prints', () => {
    const printed = printedMaps(
      assembleProgram(both, { intervalMs: 1000, dialect, arch: 'amd64', routes }).text,
    );
    const recorded = new Set(RECORDING.flatMap((l) => Object.keys((JSON.parse(l) as { data: object }).data)));
    for (const m of recorded) expect(printed).toContain(m);
  });

  test('every interval feeds the recorded lines as events of the seeded cgroups, through the real parser', async () => {
    const events: TraceEvent[] = [];
    const h = hooks(() => both, events);
    const t = new ReplayTracer(h, {
      recording: RECORDING,
      recorders: RECORDERS,
      intervalMs: 60_000,
      addresses: (c) => ADDRS[c],
    });
    try {
      await t.reconcile();
      expect(h.attached).toBe(1);
      expect(events.map((e) => e.kind)).toEqual(['attached', 'ready']);
      expect(t.attachedTargets).toBe(both);
      t.tick();
      const syscalls = syscallsOf(events);
      // The union of the recorded sets (0.23's @sc0/@sc1), for each seeded cgroup that records.
      const recorded = new Set(
        RECORDING.flatMap((l) =>
          Object.entries((JSON.parse(l) as { data: Record<string, object> }).data)
            .filter(([m]) => m.startsWith('@sc'))
            .flatMap(([, body]) => Object.keys(body).map((k) => Number(k.split(',')[1]))),
        ),
      );
      expect(recorded.size).toBe(36);
      expect([...syscalls.keys()].sort()).toEqual(['1001', '1002']);
      for (const id of ['1001', '1002']) expect(syscalls.get(id)).toEqual(recorded);

      const flows = flowsOf(events);
      // Egress by the cgroup, its own address filled in; ingress to its own address.
      expect(flows).toContainEqual(
        expect.objectContaining({
          cgroup: '1001',
          direction: 'egress',
          proto: 'TCP',
          localIP: '10.9.0.1',
          remoteIP: '10.250.0.1',
          remotePort: 80,
        }),
      );
      expect(flows).toContainEqual(
        expect.objectContaining({
          direction: 'ingress',
          proto: 'TCP',
          localIP: 'fd00:9::2',
          localPort: 80,
          remoteIP: 'fd00:250::2',
        }),
      );
      expect(flows).toContainEqual(
        expect.objectContaining({
          cgroup: '1002',
          direction: 'ingress',
          proto: 'UDP',
          localPort: 5514,
          remoteIP: '192.0.2.2',
        }),
      );
      expect(flows.filter((f) => f.cgroup === '1003')).toEqual([]);
      expect(new Set(flows.flatMap((f) => (f.cgroup ? [f.cgroup] : [])))).toEqual(new Set(['1001', '1002']));
    } finally {
      await t.close();
    }
  });

  test('a program without a kind prints none of its maps, and nothing is fed once nothing is wanted', async () => {
    const events: TraceEvent[] = [];
    let want: ProgramTargets = { ...both, extra: ['seccomp'] };
    const t = new ReplayTracer(
      hooks(() => want, events),
      { recording: RECORDING, recorders: RECORDERS, intervalMs: 60_000, addresses: (c) => ADDRS[c] },
    );
    try {
      await t.reconcile();
      t.tick();
      expect(flowsOf(events)).toEqual([]);
      expect(syscallsOf(events).size).toBe(2);
      want = { seeds: [], podPrefixes: [] };
      await t.reconcile();
      expect(t.attachedTargets).toBe(undefined);
      const before = events.length;
      t.tick();
      expect(events.length).toBe(before);
    } finally {
      await t.close();
    }
  });

  test('a key naming an address the pod lacks is left out for that cgroup', () => {
    const lines = replayLines(
      ['{"type":"map","data":{"@tcpi1":{"::ffff:$IP4,80,::ffff:10.0.0.9":1,"$IP6,80,fd00::9":2}}}'],
      [{ cgroup: '7', ip4: '10.1.1.1' }],
      new Set(['@tcpi1']),
    );
    expect(lines).toEqual(['{"type":"map","data":{"@tcpi1":{"::ffff:10.1.1.1,80,::ffff:10.0.0.9":1}}}']);
  });
});
