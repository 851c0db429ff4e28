/**
 * Which recorders recorded a workload: a recorder a node cannot serve is refused there (or, refused
 * by every node, never starts), and the recording goes on with the others. A workload none of whose
 * pods a recorder served has nothing of that kind (no profile, no advice, no policy, said so); one
 * some of whose pods it served has files from those only, which counts as a gap. Pure.
 */
import type { SessionType } from '../session/types';

/** A recorder's refusal, as the evidence keeps it. */
export interface RecorderRefusal {
  recorder: SessionType;
  /** The node that refused; with `everywhere`, one of the nodes that refused a session that never started. */
  node?: string;
  /** The session never started: no pod of the recording was recorded by it. */
  everywhere?: boolean;
  reason: string;
  message: string;
}

/** What one recording says about its pods, as far as coverage needs. */
export interface CoverageEvidence {
  id: string;
  /** Each traced pod's workload stem. */
  pods: Record<string, string>;
  /** Each traced pod's node, where known. */
  nodes?: Record<string, string>;
  refused?: RecorderRefusal[];
}

/** A recorder that recorded none of a workload's pods, and why. */
export interface NotRecorded {
  recorder: SessionType;
  reason: string;
}

/** A pod a recorder refused while it served others of the same workload. */
export interface RefusedPod {
  recording: string;
  recorder: SessionType;
  pod: string;
  node: string;
  reason: string;
}

export interface Coverage {
  notRecorded: NotRecorded[];
  refusedPods: RefusedPod[];
}

const RECORDERS: SessionType[] = ['seccomp', 'capabilities', 'network'];

const where = (r: RecorderRefusal) =>
  r.everywhere ? `${r.reason}${r.node ? `, e.g. on node ${r.node}` : ''}` : `${r.reason} on node ${r.node}`;

/** The workload's coverage by each recorder across every recording of it. */
export function coverageOf(evidence: CoverageEvidence[], stem: string): Coverage {
  const notRecorded: NotRecorded[] = [];
  const refusedPods: RefusedPod[] = [];
  for (const recorder of RECORDERS) {
    let served = false;
    const reasons = new Set<string>();
    const refused: RefusedPod[] = [];
    for (const e of evidence) {
      const refusals = (e.refused ?? []).filter((r) => r.recorder === recorder);
      for (const [pod, w] of Object.entries(e.pods)) {
        if (w !== stem) continue;
        const node = e.nodes?.[pod];
        const r = refusals.find((x) => x.everywhere || (node !== undefined && x.node === node));
        if (!r) {
          served = true;
          continue;
        }
        reasons.add(where(r));
        if (!r.everywhere && node) refused.push({ recording: e.id, recorder, pod, node, reason: r.reason });
      }
    }
    if (!reasons.size) continue;
    if (served) refusedPods.push(...refused);
    else notRecorded.push({ recorder, reason: [...reasons].join('; ') });
  }
  return { notRecorded, refusedPods };
}

/** What a workload lacks when a recorder recorded none of it. */
export const LACKS: Record<SessionType, string> = {
  seccomp: 'no seccomp profile',
  capabilities: 'no securityContext advice beyond its seccomp profiles',
  network: 'no NetworkPolicy',
};
