/**
 * A session's phase, derived by every reader from every node's record (no agent sees the others'
 * records, and a phase one node decided alone would be last-writer-wins across nodes). Pure.
 */
import type { NodeRecord, SessionPhase, TraceSession } from './types';

/** Why a node (or, with no node, every node alike) will not trace a session. */
export interface Refusal {
  node?: string;
  reason: string;
  message: string;
}

/**
 * The session's refusals: session-wide ones (status.conditions, e.g. TargetOutsideNamespace, which
 * every node decides alike) and each node's own (UnsupportedArchitecture, KernelUnsupported, …).
 */
export function refusals(s: Pick<TraceSession, 'status'>): Refusal[] {
  const refused = (c: { type: string; status: string }) => c.type === 'Accepted' && c.status === 'False';
  const session = (s.status?.conditions ?? [])
    .filter(refused)
    .map(({ reason, message }) => ({ reason, message }));
  const nodes = (s.status?.nodes ?? []).flatMap((n) =>
    (n.conditions ?? []).filter(refused).map(({ reason, message }) => ({ node: n.node, reason, message })),
  );
  return [...session, ...nodes];
}

/** A node's own phase; an entry without one (an older agent's) is judged by its final flag. */
export function nodePhase(n: Pick<NodeRecord, 'phase' | 'final'>): SessionPhase {
  return n.phase ?? (n.final ? 'Completed' : 'Pending');
}

/**
 * Failed only when no node can trace the session: refused session-wide; a pod session refused by
 * its pod's node (a pod runs on one node); an open session (selector, --all) refused by every node
 * in `agentNodes` (without it, another node may still serve it: Pending). Otherwise Completed when
 * every node that serves it finished, Tracing when every one traces, else Pending.
 */
export function sessionPhase(
  s: Pick<TraceSession, 'spec' | 'status'>,
  agentNodes?: readonly string[],
): SessionPhase {
  if (refusals({ status: { conditions: s.status?.conditions } }).length) return 'Failed';
  const nodes = s.status?.nodes ?? [];
  const serving = nodes.map(nodePhase).filter((p) => p !== 'Failed');
  if (!serving.length) {
    if (!nodes.length) return 'Pending';
    if (s.spec.target.podName) return 'Failed';
    const refused = new Set(nodes.map((n) => n.node));
    return agentNodes?.length && agentNodes.every((n) => refused.has(n)) ? 'Failed' : 'Pending';
  }
  if (serving.every((p) => p === 'Completed')) return 'Completed';
  return serving.includes('Pending') ? 'Pending' : 'Tracing';
}

/** The message that goes with a Failed phase: every refusal, each naming its node. */
export function refusalMessage(s: Pick<TraceSession, 'status'>): string | undefined {
  const all = refusals(s);
  return all.length ? [...new Set(all.map((r) => r.message))].join('; ') : undefined;
}
