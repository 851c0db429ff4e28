/**
 * What one node's agent holds for one session: per container instance, the syscall numbers seen
 * and how complete they are. Pure bookkeeping, merged with what an earlier agent already wrote.
 */
import { withGap } from '../session/gaps';
import type { ContainerRecord, Gap, NodeRecord, TraceSession } from '../session/types';

export interface Identity {
  pod: string;
  podUID: string;
  workload?: string;
  container: string;
  containerID: string;
}

export interface CgroupFacts {
  /** The program saw this cgroup created: nothing it did was missed. */
  fromStart: boolean;
  filterSeen: boolean;
}

export class SessionRecords {
  /** By cgroup id while the container's identity is still unknown, then by containerID. */
  private readonly byCgroup = new Map<string, Set<number>>();
  private readonly gapsByCgroup = new Map<string, Gap[]>();
  private readonly records = new Map<string, ContainerRecord>();

  /** Picks up what this node's agent wrote before a restart, so nothing flushed is lost. */
  constructor(previous?: NodeRecord) {
    for (const c of previous?.containers ?? [])
      this.records.set(c.containerID, { ...c, syscalls: [...c.syscalls], gaps: c.gaps && [...c.gaps] });
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

  add(cgroup: string, numbers: Iterable<number>): void {
    let set = this.byCgroup.get(cgroup);
    if (!set) this.byCgroup.set(cgroup, (set = new Set()));
    for (const n of numbers) set.add(n);
  }

  /** Moves a cgroup's numbers into its container's record once the container is known. */
  settle(cgroup: string, who: Identity, facts: CgroupFacts): void {
    const set = this.byCgroup.get(cgroup);
    const rec = this.records.get(who.containerID) ?? {
      ...who,
      syscalls: [],
      recordedFromStart: facts.fromStart,
      filterSeen: facts.filterSeen,
    };
    rec.filterSeen ||= facts.filterSeen;
    if (set) rec.syscalls = [...new Set([...rec.syscalls, ...set])].sort((a, b) => a - b);
    this.byCgroup.delete(cgroup);
    for (const gap of this.gapsByCgroup.get(cgroup) ?? []) rec.gaps = withGap(rec.gaps, gap);
    this.gapsByCgroup.delete(cgroup);
    this.records.set(who.containerID, rec);
  }

  /** Forgets a cgroup's unsettled sets and gaps (it is not this session's, or cannot be named). */
  drop(cgroup: string): void {
    this.byCgroup.delete(cgroup);
    this.gapsByCgroup.delete(cgroup);
  }

  pendingCgroups(): string[] {
    const withData = [...this.byCgroup.entries()].filter(([, s]) => s.size).map(([c]) => c);
    return [...new Set([...withData, ...this.gapsByCgroup.keys()])];
  }

  containers(): ContainerRecord[] {
    return [...this.records.values()].sort((a, b) =>
      `${a.pod}/${a.container}/${a.containerID}`.localeCompare(`${b.pod}/${b.container}/${b.containerID}`),
    );
  }
}

export const sessionKey = (s: Pick<TraceSession, 'metadata'>) => `${s.metadata.namespace}/${s.metadata.name}`;

/** Labels match a selector's matchLabels and matchExpressions. */
export function matches(
  labels: Record<string, string> | undefined,
  selector: NonNullable<TraceSession['spec']['target']['selector']>,
): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = k(e.key, l);
    const inValues = has && (e.values ?? []).includes(l[e.key]);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

const k = (key: string, labels: Record<string, string>) => Object.prototype.hasOwnProperty.call(labels, key);
