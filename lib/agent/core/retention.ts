/**
 * What the agent remembers about cgroups and pods, and for how long. A cgroup's records belong to
 * it whatever the API says about its pod afterwards: a pod's identity is kept past its deletion
 * while its cgroup may still print, and dropped once no open session can need it, so memory is
 * bounded by what runs, not by how much ran since the node booted.
 */
import type { Pod } from '../../kube/objects';
import type { CgroupState } from './plan';

export interface GonePod {
  pod: Pod;
  /** When its DELETED event arrived (ms since the epoch). */
  at: number;
}

export interface NodeMemory {
  cgroups: Map<string, CgroupState>;
  /** Deleted pods, kept so their cgroups' last sets are still attributed. */
  gone: Map<string, GonePod>;
  /** Container identities by container ID (bare), each naming its pod UID. */
  identities: Map<string, { podUID: string }>;
}

export interface RetentionPolicy {
  now: number;
  /** Whether any session is being traced on this node. */
  tracing: boolean;
  /** UIDs of the node's pods that exist. */
  livePods: ReadonlySet<string>;
  exists: (dir: string) => boolean;
  /** A session holds sets of this cgroup it cannot attribute yet (its identity is not known). */
  pending: (cgroup: string) => boolean;
  /** How long after its cgroup vanished (or its pod was deleted) a late print may still arrive. */
  graceMs: number;
  /** Sets no identity ever came for are given up after this long (their pod was never seen). */
  pendingMaxMs: number;
}

export interface Pruned {
  cgroups: string[];
  pods: string[];
  identities: number;
}

/**
 * Drops what no open session can need: cgroups whose directory is gone (after a grace for the
 * program's last print), deleted pods no remaining cgroup belongs to, identities of pods that are
 * neither live nor remembered; and everything once nothing is traced (a later session sees running
 * containers as started before it, which is what they are for it). Marks vanished cgroups.
 */
export function prune(m: NodeMemory, p: RetentionPolicy): Pruned {
  const out: Pruned = { cgroups: [], pods: [], identities: 0 };
  if (!p.tracing) {
    out.cgroups = [...m.cgroups.keys()];
    out.pods = [...m.gone.keys()];
    m.cgroups.clear();
    m.gone.clear();
  }
  for (const [id, c] of m.cgroups) {
    if (c.goneAt === undefined) {
      const vanished = c.dir ? !p.exists(c.dir) : c.podUID !== undefined && !p.livePods.has(c.podUID);
      if (vanished) c.goneAt = p.now;
      continue;
    }
    const age = p.now - c.goneAt;
    if (age >= p.pendingMaxMs || (age >= p.graceMs && !p.pending(id))) {
      m.cgroups.delete(id);
      out.cgroups.push(id);
    }
  }
  const used = new Set([...m.cgroups.values()].map((c) => c.podUID));
  for (const [uid, g] of m.gone) {
    if (!used.has(uid) && p.now - g.at >= p.graceMs) {
      m.gone.delete(uid);
      out.pods.push(uid);
    }
  }
  for (const [id, who] of m.identities) {
    if (!p.livePods.has(who.podUID) && !m.gone.has(who.podUID)) {
      m.identities.delete(id);
      out.identities++;
    }
  }
  return out;
}
