/**
 * What the node's bpftrace program must trace, planned from what the agent knows: the sessions it
 * traces now, the node's pods and the cgroups seen so far. Pure: the one fact that needs the
 * filesystem (a container directory's cgroup id) is asked through `cgroupIdOf`.
 */
import { podIPs, type Pod } from '../kube/objects';
import type { TraceSession } from '../session/types';
import { parseContainerID, qosClassOf, type CgroupLayout } from './cgroups';
import { underAny, type ProgramTargets } from './program';
import { matches } from './sessions';

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

/** The parts of a session that decide what it traces. */
export type PlannedSession = Pick<TraceSession, 'metadata' | 'spec'>;

export type Layout = Pick<CgroupLayout, 'nodePrefix' | 'podPrefix' | 'containerDir'>;

export interface PlanInput {
  /** The sessions this node traces now: neither refused nor finished. */
  sessions: readonly PlannedSession[];
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
 * new program. The session kinds, whether a network session is open (a selector or --all: ingress
 * to any local address counts), and the traced pods' addresses.
 */
const OPEN_NETWORK = 'network-open';
const IP = 'ip:';

export interface ProgramKinds {
  seccomp: boolean;
  network: boolean;
  /** Capabilities (securityContext) sessions. */
  capabilities: boolean;
  openNetwork: boolean;
  podIPs: string[];
}

/** ProgramTargets.extra for these kinds; kindsOf reads it back. Sorted, so equal plans compare equal. */
export function extraOf(k: ProgramKinds): string[] {
  return [
    ...(k.capabilities ? ['capabilities'] : []),
    ...(k.network ? ['network'] : []),
    ...(k.seccomp ? ['seccomp'] : []),
    ...(k.openNetwork ? [OPEN_NETWORK] : []),
    ...[...new Set(k.podIPs)].sort().map((ip) => `${IP}${ip}`),
  ];
}

export function kindsOf(t: ProgramTargets): ProgramKinds {
  const extra = t.extra ?? [];
  return {
    seccomp: extra.includes('seccomp'),
    network: extra.includes('network'),
    capabilities: extra.includes('capabilities'),
    openNetwork: extra.includes(OPEN_NETWORK),
    podIPs: extra.filter((x) => x.startsWith(IP)).map((x) => x.slice(IP.length)),
  };
}

/** Does the session trace this pod? Only pods of its own namespace, ever. */
export function coversPod(s: PlannedSession, pod: Pod): boolean {
  const target = s.spec.target;
  if (pod.metadata.namespace !== s.metadata.namespace) return false;
  if (target.podName) return pod.metadata.name === target.podName;
  if (target.selector) return matches(pod.metadata.labels, target.selector);
  return Boolean(target.all);
}

export function targetPodsOf(s: PlannedSession, pods: Iterable<Pod>): Pod[] {
  return [...pods].filter((p) => coversPod(s, p));
}

/** A selector or --all may match pods that do not exist yet. */
const isOpen = (s: PlannedSession) => !s.spec.target.podName;

/** Addresses of a network session's pods; a hostNetwork pod's is the node's and would claim all its traffic. */
function ipsOf(pods: Pod[]): string[] {
  return pods.filter((p) => !p.spec.hostNetwork).flatMap(podIPs);
}

export function planTargets(input: PlanInput): Plan {
  const { sessions, layout } = input;
  const discovered = new Map<string, CgroupState>();
  if (!sessions.length) return { targets: { seeds: [], podPrefixes: [] }, discovered };
  const known = (id: string) => input.cgroups.get(id) ?? discovered.get(id);

  const pods = new Map<string, Pod>();
  for (const s of sessions)
    for (const p of targetPodsOf(s, input.pods.values())) pods.set(p.metadata.uid ?? '', p);
  const seeds = new Map<string, boolean>();
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
      if (!gone || sessions.some((s) => coversPod(s, gone))) seeds.set(id, c.recording);
    }
  }
  for (const [uid, pod] of pods) {
    const qos = qosClassOf(pod);
    podPrefixes.push(layout.podPrefix(qos, uid));
    for (const cs of pod.status?.containerStatuses ?? []) {
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
      seeds.set(id, c ? c.recording : true);
    }
    for (const [id, c] of input.cgroups) {
      if (c.podUID === uid && c.goneAt === undefined && !seeds.has(id)) seeds.set(id, c.recording);
    }
  }

  const network = sessions.filter((s) => s.spec.type === 'network');
  return {
    targets: {
      seeds: [...seeds]
        .map(([id, recording]) => ({ id, recording }))
        .sort((a, b) => a.id.localeCompare(b.id)),
      podPrefixes: podPrefixes.sort(),
      extra: extraOf({
        seccomp: sessions.some((s) => s.spec.type === 'seccomp'),
        network: network.length > 0,
        capabilities: sessions.some((s) => s.spec.type === 'capabilities'),
        openNetwork: network.some(isOpen),
        podIPs: network.flatMap((s) => ipsOf(targetPodsOf(s, input.pods.values()))),
      }),
    },
    discovered,
  };
}

/**
 * Whether a program built for `attached` (one that is attached, not still compiling) traces all of
 * the session's targets: its kind, the node prefix for an open session, every target pod's prefix
 * and, for a network session, every address ingress is attributed by.
 */
export function tracesSession(
  attached: ProgramTargets | undefined,
  s: PlannedSession,
  pods: Iterable<Pod>,
  layout: Layout,
): boolean {
  if (!attached) return false;
  const prefixes = new Set(attached.podPrefixes);
  const extra = new Set(attached.extra);
  if (!extra.has(s.spec.type)) return false;
  if (isOpen(s) && !prefixes.has(layout.nodePrefix())) return false;
  const targets = targetPodsOf(s, pods);
  const armed = (p: Pod) => underAny(layout.podPrefix(qosClassOf(p), p.metadata.uid ?? ''), prefixes);
  if (!targets.every(armed)) return false;
  return s.spec.type !== 'network' || ipsOf(targets).every((ip) => extra.has(`${IP}${ip}`));
}
