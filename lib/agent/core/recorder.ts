/**
 * What the core asks of a recorder: one kind of observation (syscalls, network, privileges, …),
 * everything of that kind in its own folder under ../recorders. The core composes recorders
 * through this interface only and never asks which kind one is.
 *
 * A recorder answers four questions:
 * - what it attaches: its routes, in order of preference, each a program part per bpftrace dialect
 *   and architecture (the first route the node's kernel serves is taken; see ./support);
 * - how it parses what it prints: the maps (and printf tags) it owns, read back into events;
 * - how its records are kept per session on a node, settled to containers and written into its
 *   part of the node's status entry (and its part of the CRD schema);
 * - which kernel features it needs: the probes of its parts (read from their text) and the struct
 *   members its routes declare.
 */
import type { Pod } from '../../kube/objects';
import type {
  ContainerIdentity,
  ContainerRecord,
  NodeRecord,
  SessionType,
  TraceSession,
} from '../../session/types';
import type { Dialect } from './dialect';
import type { ProgramPart, ProgramTargets } from './program';

/** The parts of a session that decide what it traces. */
export type PlannedSession = Pick<TraceSession, 'metadata' | 'spec'>;

/** What a recorder's events have in common: the cgroup each happened in, when it has one. */
export interface Attributed {
  /** Events without one (an address seen on ingress, a directory name) go to every session of the kind. */
  cgroup?: string;
}

/** What a route's program parts are made from. */
export interface PartInput {
  /** The target cgroups: `@targets` holds them all (the core's part arms new ones). */
  targets: ProgramTargets;
  /** The recorder's own inputs for the sessions planned (see Recorder.inputs), sorted. */
  inputs: readonly string[];
  dialect: Dialect;
  /** The node's architecture, GOARCH naming (amd64, arm64). */
  arch: string;
}

/** A BTF type member a route's program reads (e.g. kernel_cap_t's `val`, which Linux 6.3 introduced). */
export interface MemberNeed {
  type: string;
  member: string;
}

export interface Route {
  /** How it attaches, for messages and `kubectl harden status` (e.g. "tracepoint"). */
  name: string;
  /** The architectures it has a program for; every one when absent. */
  arches?: readonly string[];
  /** Kernel type members its program reads; its probes are read from the parts themselves. */
  members?: readonly MemberNeed[];
  parts(input: PartInput): ProgramPart[];
}

/** A target container, as its records are settled: who it is, and how completely it was traced. */
export interface ContainerInfo extends ContainerIdentity {
  /** Traced from its entrypoint's first instruction by this session. */
  recordedFromStart: boolean;
  /** It installed a seccomp filter while traced. */
  filterSeen: boolean;
  /** The container's spec in its pod, when the agent saw the pod. */
  spec?: Pod['spec']['containers'][number];
}

/** What a session's record may ask of the agent about the session's pods on this node. */
export interface SessionView {
  /** The session itself (what it is for, e.g. its labels), as the agent first saw it. */
  session: PlannedSession;
  /** The node's architecture, GOARCH naming. */
  arch: string;
  /** The session's target pod a cgroup belongs to (also a pod deleted while its cgroup may still print). */
  podOfCgroup(cgroup: string): Pod | undefined;
  /** The session's target pods on the node that exist. */
  targetPods(): Pod[];
  log(msg: string): void;
}

/**
 * One session's records of one kind on this node. A recorder that keeps events by container waits
 * with them by cgroup until the container's identity is known (its pod status names it): they are
 * pending, then settled into the container's record (or dropped).
 */
export interface SessionRecorder<E extends Attributed> {
  /** Events of the session's targets (or of a pod not known yet, for an open session). */
  add(events: readonly E[]): void;
  pendingCgroups?(): Iterable<string>;
  /** Forgets what a cgroup recorded: it is not a target, or it cannot be named. */
  drop?(cgroup: string): void;
  settle?(cgroup: string, who: ContainerInfo): void;
  /** A running target container the program traces, whether or not it printed anything yet. */
  traced?(who: ContainerInfo): void;
  /** Its fields of a container's record (see ContainerRecord). */
  container?(containerID: string): Partial<ContainerRecord>;
  /** Its fields of the node's entry (see NodeRecord), sorted so two writes compare cleanly. */
  node?(): Partial<NodeRecord>;
}

/**
 * Method syntax on purpose: the registry holds recorders of different event types as
 * `Recorder<Attributed>`, and the core hands a recorder's events only to that recorder's own
 * session records (see ./output and ./controller).
 */
export interface Recorder<E extends Attributed = Attributed> {
  /** The sessions it records: TraceSession spec.type. */
  readonly type: SessionType;
  /** Routes in order of preference. */
  readonly routes: readonly Route[];
  /** The maps (by name, with their "@") and printf tags its parts print. */
  readonly output: { maps: readonly string[]; tags?: readonly string[] };
  /** Its maps of one printed record (`{"type": "map"}`), as `{name: body}`, → events. */
  parseMaps(maps: Record<string, unknown>): E[];
  /** A printf line starting with one of its tags → events. */
  parseLine?(line: string): E[];
  /**
   * What else its program text depends on for a session (e.g. the target pods' addresses, which
   * the kernel matches ingress by), given the session's target pods on the node.
   */
  inputs?(session: PlannedSession, pods: readonly Pod[]): string[];
  /** A session's records on this node, taking up what this node's entry held (an agent restart). */
  record(view: SessionView, previous: NodeRecord | undefined): SessionRecorder<E>;
  /**
   * Keys (at any depth of a node's record) whose values only tally what is already recorded:
   * counts, last-seen times. A change of them alone is written with the next other change, or
   * within TALLY_WRITE_MS (./status-writer); anything new is written at once.
   */
  readonly tallies?: readonly string[];
  /** Its fields of the CRD's status schema (OpenAPI v3), merged into the node entry and container record. */
  readonly schema: { node?: Record<string, object>; container?: Record<string, object> };
}
