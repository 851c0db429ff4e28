/**
 * When a seccomp session's syscalls were made, for the sessions that ask (`seccomp audit`): per
 * container and syscall number, in how many print intervals it showed up and the first and last
 * of them. The kernel keeps sets, not counts (a count per call would cost a map update on every
 * syscall of the traced pods), so the time of the print that held a number stands for when it was
 * made, and the intervals it showed up in bound its calls from below. Pure bookkeeping.
 */
import type { SeenTuple } from './types';

interface Seen {
  intervals: number;
  first: number;
  last: number;
}

const merged = (a: Seen | undefined, b: Seen): Seen =>
  !a
    ? { ...b }
    : {
        // One cgroup per container instance, so the two rarely overlap; when they do (a restart's
        // replay) this may count one interval twice, never fewer than were seen.
        intervals: a.intervals + b.intervals,
        first: Math.min(a.first, b.first),
        last: Math.max(a.last, b.last),
      };

export class SyscallSeen {
  private readonly byCgroup = new Map<string, Map<number, Seen>>();
  private readonly byContainer = new Map<string, Map<number, Seen>>();

  /** `now` in milliseconds. */
  constructor(private readonly now: () => number) {}

  /**
   * One print's numbers of a cgroup. Counted once per second: the two programs of a switch print
   * the same interval, and sets make that harmless, so counts must too.
   */
  add(cgroup: string, nrs: readonly number[]): void {
    if (!nrs.length) return;
    const at = Math.floor(this.now() / 1000);
    let m = this.byCgroup.get(cgroup);
    if (!m) this.byCgroup.set(cgroup, (m = new Map()));
    for (const nr of nrs) {
      const s = m.get(nr);
      if (!s) m.set(nr, { intervals: 1, first: at, last: at });
      else if (at > s.last) {
        s.intervals++;
        s.last = at;
      }
    }
  }

  drop(cgroup: string): void {
    this.byCgroup.delete(cgroup);
  }

  settle(cgroup: string, containerID: string): void {
    const m = this.byCgroup.get(cgroup);
    this.byCgroup.delete(cgroup);
    if (!m) return;
    let c = this.byContainer.get(containerID);
    if (!c) this.byContainer.set(containerID, (c = new Map()));
    for (const [nr, s] of m) c.set(nr, merged(c.get(nr), s));
  }

  /** What an earlier agent on this node wrote (malformed tuples are skipped: the status is input). */
  restore(containerID: string, tuples: readonly SeenTuple[]): void {
    const c = new Map<number, Seen>();
    for (const t of tuples) {
      if (!Array.isArray(t) || t.length !== 4 || !t.every((x) => Number.isInteger(x) && x >= 0)) continue;
      const [nr, intervals, first, last] = t;
      c.set(nr, { intervals, first, last });
    }
    this.byContainer.set(containerID, c);
  }

  container(containerID: string): SeenTuple[] {
    return [...(this.byContainer.get(containerID) ?? [])]
      .sort(([a], [b]) => a - b)
      .map(([nr, s]) => [nr, s.intervals, s.first, s.last]);
  }
}
