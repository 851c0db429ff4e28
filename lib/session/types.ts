/**
 * TraceSession (harden.dev/v1alpha1): the only channel between the plugin and the node agents.
 * spec says what to trace (written by the plugin), status what was seen: each node's entry is a
 * TraceRecord of its own (./trace-records) that readers assemble into status.nodes; the agents
 * write into the session's own status only what every node decides alike.
 */
import type { LabelSelector } from '../labels';

export const GROUP = 'harden.dev';
/** The CRD's API version (not the plugin's release, which is lib/version.ts). */
export const CRD_VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${CRD_VERSION}`;
export const KIND = 'TraceSession';

/**
 * The kinds of session by their spec.type. Each recorder (lib/agent/recorders/<kind>/types.ts)
 * declares its own here by declaration merging, with the fields it adds to NodeRecord and
 * ContainerRecord, so this file names no kind and a new kind touches only its own folder.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in by the recorders
export interface SessionKinds {}
export type SessionType = keyof SessionKinds;
export type SessionState = 'Running' | 'Stopped';
export const SESSION_PHASES = ['Pending', 'Tracing', 'Completed', 'Failed'] as const;
export type SessionPhase = (typeof SESSION_PHASES)[number];

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

/**
 * What of a container's life a session saw besides its start (recordedFromStart): processes
 * exec'd into it from outside (exec probes, kubectl exec), stop signals its processes handled
 * (SIGTERM, or the image's STOPSIGNAL), and its entrypoint's exit status (wait status: the signal
 * that ended it in the low 7 bits, else the exit code << 8). Absent: none of it was seen.
 */
export interface ContainerLife {
  execProcesses: number;
  stopSignals: number;
  entrypointExit?: number;
}

/** Which container instance a record is about. */
export interface ContainerIdentity {
  pod: string;
  podUID: string;
  /** The pod's workload (controller, one level up for Deployments), so profiles merge across replicas. */
  workload?: string;
  container: string;
  containerID: string;
}

/**
 * A target container this node traced, with how completely; recorders add their per-container
 * fields (declaration merging, see SessionKinds).
 */
export interface ContainerRecord extends ContainerIdentity {
  /** The container's cgroup was armed before its entrypoint ran: nothing it did was missed. */
  recordedFromStart: boolean;
  /** It installed a seccomp filter while traced, so the runtime's post-filter syscalls are in `syscalls`. */
  filterSeen: boolean;
  /** Intervals in which this container was not traced, oldest first. */
  gaps?: Gap[];
}

/** One node's entry in a session's status; recorders add their fields (see SessionKinds). */
export interface NodeRecord {
  node: string;
  /** GOARCH naming, as Node.status.nodeInfo.architecture: amd64, arm64. */
  arch: string;
  agentVersion: string;
  /** bpftrace's own version string, as the agent found it. */
  bpftraceVersion?: string;
  /** When this agent last wrote its entry. */
  lastFlush: string;
  /**
   * Set once the agent has seen state Stopped and written everything it had, or when it refused the
   * session (it has nothing to write, ever).
   */
  final: boolean;
  /**
   * This node's part: Pending until its program traces the session's targets, Failed when it
   * refused the session (its Accepted condition says why). The session's phase is derived from
   * every node's (see ./phase).
   */
  phase?: SessionPhase;
  containers: ContainerRecord[];
  conditions?: Condition[];
  /** Intervals in which this node traced nothing: a pod that lived only then left no record. */
  gaps?: Gap[];
}

export interface TraceSessionStatus {
  /** Written only when every node refuses alike (Failed); otherwise derive it with sessionPhase(). */
  phase?: SessionPhase;
  message?: string;
  conditions?: Condition[];
  nodes?: NodeRecord[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  /** An audit session's install: deleting it deletes the session (the API server's garbage collector). */
  ownerReferences?: OwnerReference[];
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
