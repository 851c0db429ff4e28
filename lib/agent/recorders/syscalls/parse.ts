/**
 * The syscall set maps as bpftrace `-f json` prints them, tuple keys joined by ",":
 *   {"type": "map", "data": {"@sc0": {"329,39": 1, "329,0": 1}}}
 * → the numbers each cgroup made in the interval. Pure, so it is tested on captured output.
 */
import { LIFE_EXEC_IN, LIFE_EXIT, LIFE_STOP_SIGNAL, SYSCALL_LIFE_MAPS, SYSCALL_MAPS } from './program';

/** What of a container's life a cgroup showed in an interval (see ContainerLife). */
export interface LifeEvent {
  what: 'stopSignal' | 'execIn' | 'exit';
  value: number;
  count: number;
}

/** The syscall numbers one cgroup made (in one interval, or ever: sets make repeats harmless). */
export interface SyscallEvent {
  cgroup: string;
  nrs: number[];
  /** Its life's events, when it showed any. */
  life?: LifeEvent[];
}

const OWN = new Set<string>(SYSCALL_MAPS);
const LIFE = new Set<string>(SYSCALL_LIFE_MAPS);
const WHAT: Record<number, LifeEvent['what']> = {
  [LIFE_STOP_SIGNAL]: 'stopSignal',
  [LIFE_EXEC_IN]: 'execIn',
  [LIFE_EXIT]: 'exit',
};
const INT = /^-?[0-9]+$/;

/** `{name: body}` of the printed maps → one event per cgroup; other maps and malformed keys give none. */
export function syscallsFromMaps(maps: Record<string, unknown>): SyscallEvent[] {
  const byCgroup = new Map<string, number[]>();
  const lives = new Map<string, LifeEvent[]>();
  for (const [name, body] of Object.entries(maps)) {
    if (LIFE.has(name) && body && typeof body === 'object') {
      for (const [key, count] of Object.entries(body as Record<string, unknown>)) {
        const [cgroup, what, value] = key.split(',');
        const w = WHAT[Number(what)];
        if (!/^[0-9]+$/.test(cgroup ?? '') || !w || !INT.test(value ?? '') || typeof count !== 'number')
          continue;
        lives.set(cgroup, [...(lives.get(cgroup) ?? []), { what: w, value: Number(value), count }]);
      }
      continue;
    }
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
  for (const c of lives.keys()) if (!byCgroup.has(c)) byCgroup.set(c, []);
  return [...byCgroup].map(([cgroup, nrs]) => ({
    cgroup,
    nrs,
    ...(lives.has(cgroup) ? { life: lives.get(cgroup) } : {}),
  }));
}
