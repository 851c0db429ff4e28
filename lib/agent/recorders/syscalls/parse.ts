/**
 * The syscall set maps as bpftrace `-f json` prints them, tuple keys joined by ",":
 *   {"type": "map", "data": {"@sc0": {"329,39": 1, "329,0": 1}}}
 * → the numbers each cgroup made in the interval. Pure, so it is tested on captured output.
 */
import { SYSCALL_MAPS } from './program';

/** The syscall numbers one cgroup made (in one interval, or ever: sets make repeats harmless). */
export interface SyscallEvent {
  cgroup: string;
  nrs: number[];
}

const OWN = new Set<string>(SYSCALL_MAPS);

/** `{name: body}` of the printed maps → one event per cgroup; other maps and malformed keys give none. */
export function syscallsFromMaps(maps: Record<string, unknown>): SyscallEvent[] {
  const byCgroup = new Map<string, number[]>();
  for (const [name, body] of Object.entries(maps)) {
    if (!OWN.has(name) || !body || typeof body !== 'object') continue;
    for (const key of Object.keys(body)) {
      const [cgroup, nr] = key.split(',');
      const n = Number(nr);
      if (!/^[0-9]+$/.test(cgroup) || !Number.isInteger(n) || n < 0) continue;
      const nrs = byCgroup.get(cgroup) ?? [];
      nrs.push(n);
      byCgroup.set(cgroup, nrs);
    }
  }
  return [...byCgroup].map(([cgroup, nrs]) => ({ cgroup, nrs }));
}
