/**
 * One seccomp session's syscall numbers on this node: by cgroup until the container is known, then
 * per container instance. Sets, so repeats (an interval printed twice at a program switch, a
 * restart's replay) change nothing. Pure bookkeeping.
 */
import type { ContainerRecord, NodeRecord } from '../../../session/types';
import type { ContainerInfo, SessionRecorder } from '../../core/recorder';
import type { SyscallEvent } from './parse';

export class SyscallRecords implements SessionRecorder<SyscallEvent> {
  private readonly byCgroup = new Map<string, Set<number>>();
  private readonly byContainer = new Map<string, number[]>();

  /** Picks up what this node's agent wrote before a restart, so nothing flushed is lost. */
  constructor(previous?: Pick<NodeRecord, 'containers'>) {
    for (const c of previous?.containers ?? []) this.byContainer.set(c.containerID, [...(c.syscalls ?? [])]);
  }

  add(events: readonly SyscallEvent[]): void {
    for (const { cgroup, nrs } of events) {
      let set = this.byCgroup.get(cgroup);
      if (!set) this.byCgroup.set(cgroup, (set = new Set()));
      for (const n of nrs) set.add(n);
    }
  }

  pendingCgroups(): string[] {
    return [...this.byCgroup].filter(([, s]) => s.size).map(([c]) => c);
  }

  drop(cgroup: string): void {
    this.byCgroup.delete(cgroup);
  }

  settle(cgroup: string, who: ContainerInfo): void {
    const set = this.byCgroup.get(cgroup);
    this.byCgroup.delete(cgroup);
    const had = this.byContainer.get(who.containerID) ?? [];
    this.byContainer.set(
      who.containerID,
      [...new Set([...had, ...(set ?? [])])].sort((a, b) => a - b),
    );
  }

  /** Every container of a seccomp session has its numbers, none (yet) included. */
  container(containerID: string): Pick<ContainerRecord, 'syscalls'> {
    return { syscalls: [...(this.byContainer.get(containerID) ?? [])] };
  }
}
