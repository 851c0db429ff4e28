/**
 * TraceSession (harden.dev/v1alpha1): the only channel between the plugin and the node agents.
 * spec says what to trace (written by the plugin), status what was seen (written by the agents,
 * one entry per node, each agent owning its own entry through server-side apply).
 */
import type { LabelSelector } from '../labels';

export const GROUP = 'harden.dev';
/** The CRD's API version (not the plugin's release, which is lib/version.ts). */
export const CRD_VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${CRD_VERSION}`;
export const KIND = 'TraceSession';

export type SessionType = 'seccomp' | 'network' | 'capabilities';
export type SessionState = 'Running' | 'Stopped';
export type SessionPhase = 'Pending' | 'Tracing' | 'Completed' | 'Failed';

export type { LabelSelector };

export interface TraceTarget {
  /**
   * Must equal the session's own namespace: RBAC on that namespace decides who may trace, so the
   * agent refuses anything else. Empty means the session's namespace.
   */
  namespace?: string;
  podName?: string;
  selector?: LabelSelector;
  /** Every pod of the namespace (netpol monitor --all). */
  all?: boolean;
  /** Container names; empty means every container of the pod. */
  containers?: string[];
}

export interface TraceSessionSpec {
  type: SessionType;
  target: TraceTarget;
  state: SessionState;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

/** Why a target was not traced for a while. */
export type GapReason =
  /** bpftrace died; what its kernel maps held since its last print died with it. */
  | 'BpftraceExited'
  /** The agent was not running (restarted, upgraded, killed). */
  | 'AgentRestarted'
  /** A new program replaced the old one without covering this container in time. */
  | 'ProgramSwitch'
  /** A kernel map of the node's program filled within one print interval: entries beyond it were dropped. */
  | 'MapFull'
  /** bpftrace's output buffer overflowed: what it printed then (sets, new containers) was dropped. */
  | 'EventsLost'
  /** More gaps than the status keeps: neighbours were merged into one span. */
  | 'Several';

/** An interval in which a target was not traced: syscalls made then may be missing. */
export interface Gap {
  /** RFC 3339: the last moment known traced. */
  from: string;
  /** RFC 3339: tracing again. */
  to: string;
  reason: GapReason;
}

/** Gaps kept per container (and per node); beyond it, neighbours merge (the span only grows). */
export const MAX_GAPS = 16;

export interface ContainerRecord {
  pod: string;
  podUID: string;
  /** The pod's workload (controller, one level up for Deployments), so profiles merge across replicas. */
  workload?: string;
  container: string;
  containerID: string;
  /** Raw syscall numbers of the node's architecture, sorted and unique. */
  syscalls: number[];
  /** The container's cgroup was armed before its entrypoint ran: nothing it did was missed. */
  recordedFromStart: boolean;
  /** It installed a seccomp filter while traced, so the runtime's post-filter syscalls are in `syscalls`. */
  filterSeen: boolean;
  /** Intervals in which this container was not traced, oldest first. */
  gaps?: Gap[];
}

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

/** Entries per list of a container's privilege record (CRD maxItems, agent cap; beyond it `truncated`). */
export const MAX_PRIVILEGE_ENTRIES = 256;
/** Entries across all of a node's privilege records for one session (paths make an entry ≤ ~300 bytes). */
export const MAX_PRIVILEGE_ENTRIES_PER_NODE = 3000;

/**
 * What a capabilities session saw one container do, aggregated and bounded. Exact: every field is
 * what the kernel reported at the named tracepoint. Inferred (by synthesis, not here): whether a
 * capability check was needed, and whether an absolute path written by a path-only call is on the
 * root filesystem (`rootfs: 'unknown'`, decided from the container's volume mounts).
 */
export interface PrivilegeRecord {
  pod: string;
  podUID: string;
  workload?: string;
  container: string;
  containerID: string;
  /** Its entrypoint's exec was seen: start-up (the user it started as, early set*id calls) is included. */
  recordedFromStart: boolean;
  /** mountPath of each volumeMount of the container, from the pod spec the agent saw. */
  mounts: string[];
  /** Credentials at each exec and after each set*id call. capEffective: hex bit mask. */
  credentials: {
    uid: number;
    gid: number;
    euid: number;
    egid: number;
    capEffective: string;
    count: number;
  }[];
  /** set*id calls: args as passed (-1: not an argument of this call), result 0 or -errno. */
  idChanges: { syscall: string; args: number[]; result: number; count: number }[];
  /** capability:cap_capable: the check, the syscall it ran in, whether granted, with overridden creds. */
  capChecks: { capability: string; syscall: string; granted: boolean; onBehalf: boolean; count: number }[];
  /** execs that gained privilege (euid, egid, or effective capabilities the caller lacked). */
  execs: {
    path: string;
    euid: [number, number];
    egid: [number, number];
    capEffective: [string, string];
    count: number;
  }[];
  /** Successful writes: syscall, path as passed, and whether the file or directory is on the root fs. */
  writes: { syscall: string; path: string; rootfs: 'yes' | 'no' | 'unknown'; count: number }[];
  /**
   * Files and directories a root process opened for reading that other users may not read
   * (permission bits lack o+r): what would break if it ran as someone else. mode: octal string.
   */
  privateReads?: { path: string; mode: string; uid: number; gid: number; count: number }[];
  /** Some list hit its cap; counts of kept entries stay exact. */
  truncated?: boolean;
}

export interface NodeRecord {
  node: string;
  /** GOARCH naming, as Node.status.nodeInfo.architecture: amd64, arm64. */
  arch: string;
  agentVersion: string;
  /** bpftrace's own version string, as the agent found it. */
  bpftraceVersion?: string;
  /** When this agent last wrote its entry. */
  lastFlush: string;
  /** Set once the agent has seen state Stopped and written everything it had. */
  final: boolean;
  containers: ContainerRecord[];
  flows?: Flow[];
  /** Flows beyond the cap were dropped (counts of kept flows stay exact). */
  truncated?: boolean;
  /** Capabilities sessions: per container instance, what it did with its privileges. */
  privileges?: PrivilegeRecord[];
  conditions?: Condition[];
  /** Intervals in which this node traced nothing: a pod that lived only then left no record. */
  gaps?: Gap[];
}

export interface TraceSessionStatus {
  phase?: SessionPhase;
  message?: string;
  conditions?: Condition[];
  nodes?: NodeRecord[];
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  creationTimestamp?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface TraceSession {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: TraceSessionSpec;
  status?: TraceSessionStatus;
}
