/**
 * The correctness check: what the plugin reads back of the sessions (the merged profile, the flow
 * list the flow log is written from) against what the replay fed. The expected flows follow the
 * agent's documented attribution (lib/agent/recorders/network/record.ts): loopback is never
 * recorded, a UDP flow's unknown local address is the pod's own of the peer's family. Pure.
 */
import { isIP } from 'node:net';
import { flowKey, type Flow } from '../../../lib/agent/recorders/network/types';
import { namesFor } from '../../../lib/seccomp/names';
import type { BuiltProfile } from '../../../lib/seccomp/profile';
import type { SyscallRecord } from '../../../lib/agent/recorders/syscalls/session';
import type { Fed } from './worker';

const isLoopback = (ip: string) => ip === '::1' || ip.startsWith('127.');

export function expectedFlowKeys(fed: readonly Fed[]): Set<string> {
  const keys = new Set<string>();
  for (const { pod, flows } of fed)
    for (const r of flows) {
      if (isLoopback(r.remoteIP) || isLoopback(r.localIP)) continue;
      const localIP = r.localIP || (isIP(r.remoteIP) === 6 ? pod.ip6 : pod.ip4);
      const { direction, proto, localPort, remoteIP, remotePort } = r;
      keys.add(flowKey({ pod: pod.name, direction, proto, localIP, localPort, remoteIP, remotePort }));
    }
  return keys;
}

export interface Verdict {
  ok: boolean;
  lines: string[];
}

const setDiff = <T>(a: Iterable<T>, b: ReadonlySet<T>) => [...a].filter((x) => !b.has(x));

function compare(what: string, got: ReadonlySet<string>, want: ReadonlySet<string>): Verdict {
  const missing = setDiff(want, got);
  const extra = setDiff(got, want);
  const ok = !missing.length && !extra.length && want.size > 0;
  const lines = [
    `${ok ? 'PASS' : 'FAIL'} ${what}: ${got.size} read back, ${want.size} fed` +
      (missing.length ? `; missing ${missing.length} (${missing.slice(0, 3).join(' ')})` : '') +
      (extra.length ? `; not fed ${extra.length} (${extra.slice(0, 3).join(' ')})` : ''),
  ];
  return { ok, lines };
}

export function judge(
  fed: readonly Fed[],
  profiles: readonly BuiltProfile[],
  records: readonly SyscallRecord[],
  flows: readonly Flow[],
): Verdict {
  const verdicts: Verdict[] = [];
  // The merged profile: one workload, so one profile; what the runtime list added is not fed.
  const fedNrs = new Set(fed.flatMap((f) => f.syscalls));
  const want = new Set(namesFor('amd64', [...fedNrs]));
  if (profiles.length !== 1)
    verdicts.push({ ok: false, lines: [`FAIL profiles: ${profiles.length}, expected 1 merged`] });
  const p = profiles[0];
  const added = new Set(p?.addedFromRuntimeList ?? []);
  const names = new Set((p?.profile.syscalls[0]?.names ?? []).filter((n) => !added.has(n)));
  verdicts.push(compare('merged profile syscalls', names, want));
  // Per container: each pod's record holds exactly what was fed for it.
  const byPod = new Map(records.map((r) => [r.pod, r]));
  const wrong = fed.filter((f) => {
    const got = byPod.get(f.pod.name)?.syscalls ?? [];
    return got.length !== new Set(f.syscalls).size || got.some((n) => !f.syscalls.includes(n));
  });
  const unfed = records.filter((r) => !fed.some((f) => f.pod.name === r.pod));
  verdicts.push({
    ok: !wrong.length && !unfed.length,
    lines: [
      `${!wrong.length && !unfed.length ? 'PASS' : 'FAIL'} per-pod syscall records: ${records.length} records, ${fed.length} pods fed` +
        (wrong.length
          ? `; ${wrong.length} differ (${wrong
              .slice(0, 3)
              .map((f) => f.pod.name)
              .join(' ')})`
          : '') +
        (unfed.length ? `; ${unfed.length} of pods not fed` : ''),
    ],
  });
  verdicts.push(compare('flow log flows', new Set(flows.map(flowKey)), expectedFlowKeys(fed)));
  return { ok: verdicts.every((v) => v.ok), lines: verdicts.flatMap((v) => v.lines) };
}
