/**
 * What one node's agent holds for one session, whatever its kind: per container instance, how
 * completely it was traced (from its start? a filter seen? gaps?). The recorders keep what it did
 * (see ./recorder). Pure bookkeeping, merged with what an earlier agent already wrote.
 */
import { withGap } from '../../session/gaps';
import type { ContainerRecord, Gap, NodeRecord, TraceSession } from '../../session/types';
import type { ContainerInfo } from './recorder';

export class ContainerRecords {
  private readonly gapsByCgroup = new Map<string, Gap[]>();
  private readonly records = new Map<string, ContainerRecord>();

  /** Picks up what this node's agent wrote before a restart, so nothing flushed is lost. */
  constructor(previous?: Pick<NodeRecord, 'containers'>) {
    for (const c of previous?.containers ?? [])
      this.records.set(c.containerID, { ...c, gaps: c.gaps && [...c.gaps] });
  }

  /** A gap in the tracing of a cgroup, attached to its container once that is known. */
  addGap(cgroup: string, gap: Gap): void {
    this.gapsByCgroup.set(cgroup, withGap(this.gapsByCgroup.get(cgroup), gap));
  }

  /** A gap in the tracing of a container already recorded (by this agent or one before it). */
  addContainerGap(containerID: string, gap: Gap): void {
    const rec = this.records.get(containerID);
    if (rec) rec.gaps = withGap(rec.gaps, gap);
  }

  /** The container's record (made once its identity is known), with the cgroup's gaps moved in. */
  settle(cgroup: string, who: ContainerInfo): void {
    const { pod, podUID, workload, container, containerID, recordedFromStart, filterSeen } = who;
    const rec = this.records.get(containerID) ?? {
      pod,
      podUID,
      workload,
      container,
      containerID,
      recordedFromStart,
      filterSeen,
    };
    rec.filterSeen ||= filterSeen;
    for (const gap of this.gapsByCgroup.get(cgroup) ?? []) rec.gaps = withGap(rec.gaps, gap);
    this.gapsByCgroup.delete(cgroup);
    this.records.set(containerID, rec);
  }

  /** Forgets a cgroup's unsettled gaps (it is not this session's, or cannot be named). */
  drop(cgroup: string): void {
    this.gapsByCgroup.delete(cgroup);
  }

  pendingCgroups(): string[] {
    return [...this.gapsByCgroup.keys()];
  }

  containers(): ContainerRecord[] {
    return [...this.records.values()].sort((a, b) =>
      `${a.pod}/${a.container}/${a.containerID}`.localeCompare(`${b.pod}/${b.container}/${b.containerID}`),
    );
  }
}

export const sessionKey = (s: Pick<TraceSession, 'metadata'>) => `${s.metadata.namespace}/${s.metadata.name}`;
