/**
 * One seccomp session's syscall numbers on this node: by cgroup until the container is known, then
 * per container instance. Sets, so repeats (an interval printed twice at a program switch, a
 * restart's replay) change nothing; of the container's life only the counts may grow by a repeat.
 * Pure bookkeeping.
 */
import type { ContainerLife, ContainerRecord, NodeRecord } from '../../../session/types';
import type { ContainerInfo, SessionRecorder } from '../../core/recorder';
import type { LifeEvent, SyscallEvent } from './parse';
import { SyscallSeen } from './seen';

/** Life events added to what a container's life showed so far. */
function lived(life: ContainerLife | undefined, events: readonly LifeEvent[]): ContainerLife | undefined {
  if (!events.length) return life;
  const out: ContainerLife = { execProcesses: 0, stopSignals: 0, ...life };
  for (const e of events) {
    if (e.what === 'execIn') out.execProcesses += e.count;
    else if (e.what === 'stopSignal') out.stopSignals += e.count;
    else out.entrypointExit = e.value;
  }
  return out;
}

export class SyscallRecords implements SessionRecorder<SyscallEvent> {
  private readonly byCgroup = new Map<string, Set<number>>();
  private readonly byContainer = new Map<string, number[]>();
  private readonly lifeByCgroup = new Map<string, LifeEvent[]>();
  private readonly lifeByContainer = new Map<string, ContainerLife>();
  /** When each syscall was seen, for sessions that ask for it (see SyscallSeen); else undefined. */
  private readonly seen?: SyscallSeen;

  /**
   * Picks up what this node's agent wrote before a restart, so nothing flushed is lost. `timed`:
   * also keep, per container and syscall, in how many intervals it was made and first/last when.
   */
  constructor(previous?: Pick<NodeRecord, 'containers'>, opts: { timed?: boolean; now?: () => number } = {}) {
    if (opts.timed) this.seen = new SyscallSeen(opts.now ?? Date.now);
    for (const c of previous?.containers ?? []) {
      this.byContainer.set(c.containerID, [...(c.syscalls ?? [])]);
      if (c.life) this.lifeByContainer.set(c.containerID, { ...c.life });
      if (c.seen) this.seen?.restore(c.containerID, c.seen);
    }
  }

  add(events: readonly SyscallEvent[]): void {
    for (const { cgroup, nrs, life } of events) {
      let set = this.byCgroup.get(cgroup);
      if (!set) this.byCgroup.set(cgroup, (set = new Set()));
      for (const n of nrs) set.add(n);
      this.seen?.add(cgroup, nrs);
      if (life?.length) this.lifeByCgroup.set(cgroup, [...(this.lifeByCgroup.get(cgroup) ?? []), ...life]);
    }
  }

  pendingCgroups(): string[] {
    return [...this.byCgroup].filter(([c, s]) => s.size || this.lifeByCgroup.has(c)).map(([c]) => c);
  }

  drop(cgroup: string): void {
    this.byCgroup.delete(cgroup);
    this.lifeByCgroup.delete(cgroup);
    this.seen?.drop(cgroup);
  }

  settle(cgroup: string, who: ContainerInfo): void {
    const set = this.byCgroup.get(cgroup);
    this.byCgroup.delete(cgroup);
    const life = lived(this.lifeByContainer.get(who.containerID), this.lifeByCgroup.get(cgroup) ?? []);
    this.lifeByCgroup.delete(cgroup);
    this.seen?.settle(cgroup, who.containerID);
    if (life) this.lifeByContainer.set(who.containerID, life);
    const had = this.byContainer.get(who.containerID) ?? [];
    this.byContainer.set(
      who.containerID,
      [...new Set([...had, ...(set ?? [])])].sort((a, b) => a - b),
    );
  }

  /** Every container of a seccomp session has its numbers, none (yet) included. */
  container(containerID: string): Pick<ContainerRecord, 'syscalls' | 'life' | 'seen'> {
    const life = this.lifeByContainer.get(containerID);
    return {
      syscalls: [...(this.byContainer.get(containerID) ?? [])],
      ...(life ? { life: { ...life } } : {}),
      ...(this.seen ? { seen: this.seen.container(containerID) } : {}),
    };
  }
}
