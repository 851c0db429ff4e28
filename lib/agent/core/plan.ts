/**
 * What the node's bpftrace program must trace, planned from what the agent knows: the sessions it
 * traces now, the node's pods and the cgroups seen so far. Pure: the one fact that needs the
 * filesystem (a container directory's cgroup id) is asked through `cgroupIdOf`.
 */
import { selectorMatches } from '../../labels';
import { allContainerStatuses, type Pod } from '../../kube/objects';
import { parseContainerID, qosClassOf, type CgroupLayout } from './cgroups';
import { underAny, type CgroupSeed, type ProgramTargets } from './program';
import type { PlannedSession, Recorder } from './recorder';

/** What the agent knows about one cgroup it armed or seeded. */
export interface CgroupState {
  podUID?: string;
  containerID?: string;
  /** Armed before its entrypoint ran: nothing it did was missed. */
  fromStart: boolean;
  filterSeen: boolean;
  recording: boolean;
  /** Its directory, to tell whether it still exists; undefined when not known. */
  dir?: string;
  /** When the agent first knew of it (ms since the epoch). */
  seenAt?: number;
  /** When its directory was found gone: it runs nothing any more, only a late print may come. */
  goneAt?: number;
}

export type Layout = Pick<CgroupLayout, 'nodePrefix' | 'podPrefix' | 'containerDir'>;

export interface PlanInput {
  /** The sessions this node traces now (neither refused nor finished); only those with targets on it count. */
  sessions: readonly PlannedSession[];
  /** The recorders of the kinds the node serves, in the registry's order. */
  recorders: readonly Recorder[];
  /** The node's pods, by UID. */
  pods: ReadonlyMap<string, Pod>;
  /** Deleted pods whose cgroups may still run (a force-deleted pod's containers outlive it). */
  gonePods?: ReadonlyMap<string, Pod>;
  cgroups: ReadonlyMap<string, CgroupState>;
  layout: Layout;
  cgroupIdOf: (dir: string) => string | undefined;
}

export interface Plan {
  targets: ProgramTargets;
  /** Running containers seen for the first time: recorded at once (their start was missed). */
  discovered: Map<string, CgroupState>;
}

/**
 * ProgramTargets.extra: whatever else the program text depends on, so that a change of it needs a
 * new program: each recorder planned (in the registry's order), then its inputs as
 * "<type>:<input>", sorted, so equal plans compare equal.
 */
function extraOf(parts: readonly PlannedPart[]): string[] {
  return parts.flatMap((p) => [p.recorder.type, ...p.inputs.map((i) => `${p.recorder.type}:${i}`)]);
}

/** A recorder a program is made of, with its inputs (see Recorder.inputs). */
export interface PlannedPart {
  recorder: Recorder;
  inputs: string[];
}

/** The recorders (of those given, in their order) a program planned for `t` is made of; extraOf read back. */
export function partsOf(t: ProgramTargets, recorders: readonly Recorder[]): PlannedPart[] {
  const extra = t.extra ?? [];
  return recorders
    .filter((r) => extra.includes(r.type))
    .map((recorder) => {
      const prefix = `${recorder.type}:`;
      const inputs = extra.filter((x) => x.startsWith(prefix)).map((x) => x.slice(prefix.length));
      return { recorder, inputs };
    });
}

/** Does the session trace this pod? Only pods of its own namespace, ever. */
export function coversPod(s: PlannedSession, pod: Pod): boolean {
  const target = s.spec.target;
  if (pod.metadata.namespace !== s.metadata.namespace) return false;
  if (target.podName) return pod.metadata.name === target.podName;
  if (target.selector) return selectorMatches(target.selector, pod.metadata.labels);
  return Boolean(target.all);
}

export function targetPodsOf(s: PlannedSession, pods: Iterable<Pod>): Pod[] {
  return [...pods].filter((p) => coversPod(s, p));
}

/** A selector or --all may match pods that do not exist yet. */
const isOpen = (s: PlannedSession) => !s.spec.target.podName;

/** What else the program text depends on for one session (sorted, unique). */
const inputsOf = (r: Recorder, s: PlannedSession, pods: Iterable<Pod>) =>
  [...new Set(r.inputs?.(s, targetPodsOf(s, pods)) ?? [])].sort();

/**
 * Whether the session has targets on this node: its pod is here, or it is open (a matching pod may
 * come at any time, and must be recorded from its first instruction: a program made only once its
 * pod appears would come too late). Only such sessions add their recorder to the node's program.
 */
export function concernsNode(s: PlannedSession, pods: Iterable<Pod>): boolean {
  return isOpen(s) || targetPodsOf(s, pods).length > 0;
}

export function planTargets(input: PlanInput): Plan {
  const { layout } = input;
  const sessions = input.sessions.filter((s) => concernsNode(s, input.pods.values()));
  const discovered = new Map<string, CgroupState>();
  if (!sessions.length) return { targets: { seeds: [], podPrefixes: [] }, discovered };
  const known = (id: string) => input.cgroups.get(id) ?? discovered.get(id);

  const pods = new Map<string, Pod>();
  for (const s of sessions)
    for (const p of targetPodsOf(s, input.pods.values())) pods.set(p.metadata.uid ?? '', p);
  const seeds = new Map<string, CgroupSeed>();
  const seed = (id: string, c: CgroupState | undefined) =>
    seeds.set(id, { id, recording: c ? c.recording : true, ...(c?.filterSeen ? { filtered: true } : {}) });
  const podPrefixes: string[] = [];
  // Arm every new pod cgroup of the node, so a new replica is recorded from its first instruction;
  // cgroups of pods that turn out not to be targets are dropped by the next program (Tracer's hasExtra).
  // Seeded are only cgroups that still exist and may be targets: of a pod not known yet, or of a
  // deleted target pod whose containers still run.
  if (sessions.some(isOpen)) {
    podPrefixes.push(layout.nodePrefix());
    for (const [id, c] of input.cgroups) {
      if (!c.fromStart || c.goneAt !== undefined || (c.podUID && input.pods.has(c.podUID))) continue;
      const gone = c.podUID ? input.gonePods?.get(c.podUID) : undefined;
      if (!gone || input.sessions.some((s) => coversPod(s, gone))) seed(id, c);
    }
  }
  for (const [uid, pod] of pods) {
    const qos = qosClassOf(pod);
    podPrefixes.push(layout.podPrefix(qos, uid));
    for (const cs of allContainerStatuses(pod)) {
      const parsed = cs.containerID ? parseContainerID(cs.containerID) : undefined;
      if (!parsed || !cs.state?.running) continue;
      const dir = layout.containerDir(qos, uid, cs.containerID ?? '');
      const id = dir ? input.cgroupIdOf(dir) : undefined;
      if (!id) continue;
      const c = known(id);
      // A container running before its pod was armed is recorded at once (its start was missed).
      if (!c) {
        discovered.set(id, {
          podUID: uid,
          containerID: parsed.id,
          fromStart: false,
          filterSeen: false,
          recording: true,
          dir,
        });
      }
      seed(id, c);
    }
    for (const [id, c] of input.cgroups) {
      if (c.podUID === uid && c.goneAt === undefined && !seeds.has(id)) seed(id, c);
    }
  }

  const parts = input.recorders.flatMap((recorder): PlannedPart[] => {
    const mine = sessions.filter((s) => s.spec.type === recorder.type);
    if (!mine.length) return [];
    const inputs = [...new Set(mine.flatMap((s) => inputsOf(recorder, s, input.pods.values())))].sort();
    return [{ recorder, inputs }];
  });
  return {
    targets: {
      seeds: [...seeds.values()].sort((a, b) => a.id.localeCompare(b.id)),
      podPrefixes: podPrefixes.sort(),
      extra: extraOf(parts),
    },
    discovered,
  };
}

/**
 * The cgroups of the session's target pods the agent knows and that still exist, as a program must
 * seed or arm them to trace the session: a program in service since before the session (for another
 * open session) arms the pods' new cgroups, but traces their running containers only if it seeded them.
 */
export function sessionSeeds(
  s: PlannedSession,
  pods: Iterable<Pod>,
  cgroups: ReadonlyMap<string, CgroupState>,
): CgroupSeed[] {
  const uids = new Set(targetPodsOf(s, pods).map((p) => p.metadata.uid));
  return [...cgroups]
    .filter(([, c]) => c.goneAt === undefined && c.podUID !== undefined && uids.has(c.podUID))
    .map(([id, c]) => ({ id, recording: c.recording }));
}

/**
 * Whether a program built for `attached` (one that is attached, not still compiling) traces all of
 * the session's targets: its recorder with every input the session needs (e.g. the addresses
 * ingress is attributed by), the node prefix for an open session, and every target pod's prefix.
 * Prefixes arm only cgroups made after the program started: whether it traces the containers that
 * were already running is the tracer's to tell (Tracer.untraced of sessionSeeds).
 */
export function tracesSession(
  attached: ProgramTargets | undefined,
  s: PlannedSession,
  recorder: Recorder,
  pods: Iterable<Pod>,
  layout: Layout,
): boolean {
  if (!attached) return false;
  const prefixes = new Set(attached.podPrefixes);
  const [part] = partsOf(attached, [recorder]);
  if (!part || inputsOf(recorder, s, pods).some((i) => !part.inputs.includes(i))) return false;
  if (isOpen(s) && !prefixes.has(layout.nodePrefix())) return false;
  const armed = (p: Pod) => underAny(layout.podPrefix(qosClassOf(p), p.metadata.uid ?? ''), prefixes);
  return targetPodsOf(s, pods).every(armed);
}
