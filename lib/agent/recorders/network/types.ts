/**
 * What network sessions record, as the TraceSession status carries it: each node's unique flows
 * of the target pods. Pure data; the plugin reads it (netpol monitor), the agent writes it.
 */
export type Direction = 'ingress' | 'egress';
export type Protocol = 'TCP' | 'UDP';

/** One connection tuple as the kernel saw it on a traced pod's side, with how often. */
export interface FlowTuple {
  direction: Direction;
  proto: Protocol;
  /** Ingress: local = the traced pod; egress: remote = the peer. */
  localIP: string;
  /** 0 for egress: the ephemeral source port is never part of a policy. */
  localPort: number;
  remoteIP: string;
  /** 0 for ingress: the peer's port is ephemeral. */
  remotePort: number;
  count: number;
}

export interface Flow extends FlowTuple {
  pod: string;
  /** RFC 3339. */
  firstSeen: string;
  lastSeen: string;
}

/**
 * Flow entries one node keeps per session: the CRD's maxItems and the agent's table cap, so the
 * agent truncates (and says so) before the API server would refuse the whole status.
 */
export const MAX_FLOWS_PER_NODE = 2000;

/** A flow's identity: everything but its counts and times. Two entries with one key are one flow. */
export function flowKey(f: Omit<Flow, 'count' | 'firstSeen' | 'lastSeen'>): string {
  return [f.pod, f.direction, f.proto, f.localIP, f.localPort, f.remoteIP, f.remotePort].join('|');
}

declare module '../../../session/types' {
  interface SessionKinds {
    /** Network flows (netpol monitor). */
    network: true;
  }
  interface NodeRecord {
    /** Network sessions: unique flows of the target pods seen on this node. */
    flows?: Flow[];
    /** Flows beyond the cap were dropped (counts of kept flows stay exact). */
    truncated?: boolean;
  }
}
