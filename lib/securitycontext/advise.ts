/**
 * The least-privilege securityContext of each traced container, from what it did, each field with
 * the observation behind it. Pure: records and specs in, advice out.
 *
 * Exact (kernel-reported): the credentials processes ran with after each exec and set*id call, the
 * set*id calls and their results, the capability checks and whether they were granted, execs that
 * gained privilege, which opened-for-write files were on the root filesystem, and which files a
 * root process opened that other users may not read.
 * Inferred: which granted checks were needed (see capabilities.ts); which absolute paths written by
 * path-only calls (mkdir, unlink, rename…) are on the root filesystem (by the volume mounts); that
 * an emptyDir over a written directory hides nothing the workload needs from the image; that a
 * workload which never needed root's capabilities nor read a file others may not can run as another
 * user (what it did not do during the session is not known). A container whose start was not seen gets no advice on what its start-up
 * decides (user, capabilities, root filesystem, privilege escalation): that is never guessed safe.
 */
import { posix } from 'node:path';
import {
  MAX_PRIVILEGE_ENTRIES,
  MAX_PRIVILEGE_ENTRIES_PER_NODE,
  PRIVILEGE_LISTS,
  type PrivilegeList,
  type PrivilegeRecord,
} from '../agent/recorders/privileges/types';
import { classifyChecks, k8sCapability } from './capabilities';
import { evaluatePss, type PssResult } from './pss';
import type { ContainerSpec, PodSpec, SecurityContext } from './types';

export interface AdviseOptions {
  /** A Localhost seccomp profile (path under kubelet's seccomp root) instead of RuntimeDefault. */
  seccompProfile?: string;
}

export interface RootNeed {
  why: string;
  alternatives: string[];
}

export interface ContainerAdvice {
  name: string;
  /** An init container (a sidecar among them): the patch sets it under initContainers. */
  init?: boolean;
  securityContext: SecurityContext;
  /** Directories to mount an emptyDir on, so the root filesystem can be read-only. */
  emptyDirs: string[];
  /** Per advised field, the observation behind it. */
  evidence: Record<string, string>;
  rootNeeded?: RootNeed;
  /** What could not be observed, and the fields left unadvised because of it. */
  notObserved: string[];
  /** What the spec sets that nothing recorded needed. */
  unused: string[];
  /** Capability checks that were not needs (denied, probes), for the record. */
  ignoredChecks: string[];
  notes: string[];
  /**
   * What the advice relied on from the node that another cluster may not give (the runtime, the
   * pod's network sysctls as the runtime set them): where it differs, so may the answer.
   */
  reliedOn: string[];
  /** Pod sysctls this container needs to hold on any runtime (a non-root bind below 1024). */
  sysctls?: { name: string; value: string }[];
}

export interface WorkloadAdvice {
  namespace: string;
  workload: string;
  containers: ContainerAdvice[];
  /** The level the pod spec meets with the advice applied. */
  pss: PssResult;
  /** Pod-level settings nothing recorded needed. */
  unused: string[];
  /** The pod's sysctls with what the containers need added (the whole list: a patch replaces it). */
  podSysctls?: { name: string; value: string }[];
}

/** The agent's bounds, as a note names them. */
const BOUND = `${MAX_PRIVILEGE_ENTRIES} entries per list, ${MAX_PRIVILEGE_ENTRIES_PER_NODE} across a node’s records`;
/** A record's lists as notes name them. */
export const LIST_NAMES: Record<PrivilegeList, string> = {
  credentials: 'credentials',
  idChanges: 'set*id calls',
  capChecks: 'capability checks',
  execs: 'execs that gained privilege',
  writes: 'root filesystem writes',
  volumeWrites: 'writes off the root filesystem',
  privateReads: 'private reads',
  lowBinds: 'binds of ports below 1024',
};

/** The sysctl that lets any user bind ports from its value up (a safe sysctl, namespaced per pod). */
export const PORT_SYSCTL = 'net.ipv4.ip_unprivileged_port_start';

/** An unprivileged id for workloads that never needed root: nobody/nogroup. */
export const UNPRIVILEGED_ID = 65534;
const UID_CALLS = new Set(['setuid', 'setreuid', 'setresuid']);
const GID_CALLS = new Set(['setgid', 'setregid', 'setresgid', 'setgroups']);
/** Mounts every container gets from the runtime and kubelet: writes there are not the root fs. */
const RUNTIME_MOUNTS = [
  '/dev',
  '/proc',
  '/sys',
  '/etc/hosts',
  '/etc/hostname',
  '/etc/resolv.conf',
  '/var/run/secrets/kubernetes.io/serviceaccount',
];
/** Directories that hold scratch state by convention: an emptyDir there hides nothing of the image's. */
const SCRATCH = [
  /^\/tmp(\/|$)/,
  /^\/var\/tmp(\/|$)/,
  /^\/run(\/|$)/,
  /^\/var\/run(\/|$)/,
  /^\/var\/cache\//,
  /^\/var\/log\//,
  /^\/var\/lib\//,
];

type Merged = Omit<PrivilegeRecord, 'pod' | 'podUID' | 'containerID' | 'workload'> & {
  instances: number;
  /** set*id calls the runtime made starting exec'd processes (left out of the lists above). */
  runtimeSwitches: number;
  /** The runtimes that ran its instances, from their container IDs (containerd, cri-o, docker). */
  runtimes: string[];
};

/** All instances (replicas, restarts, nodes) of one container name, merged. */
export function mergeRecords(records: PrivilegeRecord[]): Merged {
  const m: Merged = {
    container: records[0]?.container ?? '',
    // One instance seen from its start shows the start-up of all (same container of one workload);
    // instances already running add what they did later, e.g. their shutdown during a rollout.
    recordedFromStart: records.some((r) => r.recordedFromStart),
    mounts: [...new Set(records.flatMap((r) => r.mounts))].sort(),
    // What the runtime did to start exec'd processes (its switch from uid 0 to the image's user for
    // each exec probe) is not the workload's: it would read as "starts as root and switches".
    credentials: records.flatMap((r) => r.credentials).filter((e) => !e.runtime),
    idChanges: records.flatMap((r) => r.idChanges).filter((e) => !e.runtime),
    capChecks: records.flatMap((r) => r.capChecks).filter((e) => !e.runtime),
    runtimeSwitches: records
      .flatMap((r) => r.idChanges)
      .filter((e) => e.runtime)
      .reduce((n, e) => n + e.count, 0),
    lowBinds: records.flatMap((r) => r.lowBinds ?? []),
    unprivilegedPortStart: records.reduce<number | undefined>(
      (v, r) =>
        r.unprivilegedPortStart === undefined
          ? v
          : Math.max(v ?? r.unprivilegedPortStart, r.unprivilegedPortStart),
      undefined,
    ),
    runtimes: [...new Set(records.map((r) => r.containerID.split('://')[0]).filter((x) => x))].sort(),
    execs: records.flatMap((r) => r.execs),
    // Both write lists: where each write landed is judged again below (rootfsWrites).
    writes: records.flatMap((r) => [...r.writes, ...(r.volumeWrites ?? [])]),
    privateReads: records.flatMap((r) => r.privateReads ?? []),
    truncated: records.some((r) => r.truncated),
    // An older agent said only that some list was cut: then any may have been.
    truncatedLists: [
      ...new Set(records.flatMap((r) => r.truncatedLists ?? (r.truncated ? [...PRIVILEGE_LISTS] : []))),
    ].sort(),
    instances: records.length,
  };
  return m;
}

const under = (path: string, dir: string) =>
  path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
const parentOf = (path: string) => path.replace(/\/+$/, '').replace(/\/[^/]*$/, '') || '/';
// `.` and `..` resolved as the agent's record resolves them, so `/data/../var/x` is not under /data.
const normalize = (p: string) => posix.normalize(p);

interface RootfsWrites {
  /** Directories that need to be writable. */
  dirs: string[];
  /** Writes that cannot be placed (relative paths, the root directory itself). */
  unplaceable: string[];
  /** Number of rootfs writes seen. */
  total: number;
}

/** Writes that landed on the root filesystem, as the directories that must stay writable. */
export function rootfsWrites(m: Pick<Merged, 'writes' | 'mounts'>): RootfsWrites {
  const dirs = new Set<string>();
  const unplaceable = new Set<string>();
  let total = 0;
  for (const w of m.writes) {
    const path = normalize(w.path);
    const absolute = path.startsWith('/');
    let onRoot = w.rootfs === 'yes';
    if (w.rootfs === 'unknown') {
      onRoot = absolute && ![...m.mounts, ...RUNTIME_MOUNTS].some((mp) => under(path, mp));
    }
    if (!onRoot) continue;
    total += w.count;
    const dir = absolute ? parentOf(path) : '';
    if (!absolute || dir === '/') unplaceable.add(`${w.syscall} ${w.path}`);
    else dirs.add(dir);
  }
  // Keep the outermost directories only: one emptyDir covers what is below it.
  const sorted = [...dirs].sort();
  const outer = sorted.filter((d) => !sorted.some((o) => o !== d && under(d, o)));
  return { dirs: outer, unplaceable: [...unplaceable].sort(), total };
}

/** Private reads another user would be refused (files owned by the unprivileged id itself are fine). */
const lockedOut = (m: Pick<Merged, 'privateReads'>) =>
  (m.privateReads ?? []).filter((r) => r.uid !== UNPRIVILEGED_ID);

const idList = (ids: Iterable<number>) => [...new Set(ids)].sort((a, b) => a - b).join(', ');

function adviseContainer(
  m: Merged,
  spec: ContainerSpec | undefined,
  opts: AdviseOptions,
  podSysctls: { name: string; value: string }[] = [],
): ContainerAdvice {
  const sc: SecurityContext = {};
  const evidence: Record<string, string> = {};
  const notObserved: string[] = [];
  const unused: string[] = [];
  const notes: string[] = [];
  let rootNeeded: RootNeed | undefined;
  const current = spec?.securityContext ?? {};
  // A container traced from its start always has its entrypoint's exec credentials: without them
  // its start-up did not reach the record (events lost or still in flight), and an empty record
  // must not read as "used nothing".
  const startLost = m.recordedFromStart && !m.credentials.length;
  const start = m.recordedFromStart && !startLost;
  if (startLost) {
    notObserved.push(
      'its start was traced but no record of its entrypoint’s exec arrived, so what it did at start-up is unknown: ' +
        'runAsUser, runAsNonRoot, capabilities, allowPrivilegeEscalation and readOnlyRootFilesystem are not advised; ' +
        'trace it again (kubectl harden status shows the agent’s health)',
    );
  } else if (!start) {
    notObserved.push(
      'the container was already running when the session started: its start-up (the user it started as, set*id calls, ' +
        'capabilities and root filesystem writes made before the session) was not observed, so runAsUser, runAsNonRoot, ' +
        'capabilities, allowPrivilegeEscalation and readOnlyRootFilesystem are not advised; start the session with -l ' +
        'before the pods (re)start to observe it',
    );
  }
  // A list cut at its bound may have lost the one entry that matters (a root filesystem write
  // among hundreds into a volume): what depends on it is withheld, never guessed from the rest.
  const cut = new Set(m.truncatedLists);
  const withheld = (lists: PrivilegeList[], fields: string): boolean => {
    const hit = lists.filter((l) => cut.has(l));
    if (!hit.length || !start) return false;
    notObserved.push(
      `the agent’s list of ${hit.map((l) => LIST_NAMES[l]).join(' and of ')} hit its bound ` +
        `(${BOUND}): what lies beyond it is unknown, so ${fields}`,
    );
    return true;
  };
  const userCut = withheld(
    ['credentials', 'idChanges', 'privateReads'],
    'runAsUser, runAsGroup and runAsNonRoot are not advised',
  );
  const capsCut = withheld(
    ['capChecks', 'lowBinds'],
    'capabilities are not advised, nor whether root is needed',
  );
  const execsCut = withheld(['execs'], 'allowPrivilegeEscalation is not advised');
  const rootfsCut = withheld(['writes'], 'readOnlyRootFilesystem is not advised, nor emptyDirs for it');
  // Where its root filesystem writes landed: what the user advice and readOnlyRootFilesystem both read.
  const rootfs = start && !rootfsCut ? rootfsWrites(m) : undefined;
  if (cut.has('volumeWrites'))
    notes.push(
      `the agent’s list of ${LIST_NAMES.volumeWrites} hit its bound (${BOUND}): the volume paths named here may be incomplete`,
    );
  const userOk = start && !userCut && !capsCut;
  if (m.runtimeSwitches) {
    notes.push(
      `${m.runtimeSwitches} set*id calls the runtime made to start processes exec'd into the container ` +
        '(exec probes, kubectl exec) as its user are the runtime’s, not the workload’s: they decide nothing here',
    );
  }

  const { needed, ignored } = classifyChecks(m.capChecks);
  const ports = lowPorts(m, podSysctls);
  const reliedOn = ports.reliedOn;
  if (m.runtimes.length)
    reliedOn.push(
      `the container runtime: ${m.runtimes.join(', ')} (from the container IDs): what it sets up for a container ` +
        '(its default sysctls, its init before the entrypoint) shaped what was recorded',
    );
  // Portable: a root bind below 1024 that passed only because the runtime lowered the sysctl
  // would be refused on a runtime that leaves the kernel's 1024. It needs the capability there.
  if (ports.root.length && !needed.some((n) => n.capability === 'CAP_NET_BIND_SERVICE')) {
    needed.push({ capability: 'CAP_NET_BIND_SERVICE', syscalls: ['bind'], count: ports.root.length });
    needed.sort((a, b) => a.capability.localeCompare(b.capability));
    notes.push(
      `NET_BIND_SERVICE is kept for its bind of port ${ports.root.join(', ')} as root: no capability check was made ` +
        `only because this pod's ${PORT_SYSCTL} was ${ports.rootStart} (set by its runtime, not its spec), and a runtime ` +
        `that leaves the kernel's 1024 checks it; to drop it, set the pod sysctl ${PORT_SYSCTL}=${Math.min(...ports.root)} ` +
        '(a safe sysctl) and remove NET_BIND_SERVICE',
    );
  }
  const neededNames = needed.map((n) => k8sCapability(n.capability));
  const usage = needed.map((n) => `${k8sCapability(n.capability)} (in ${n.syscalls.join(', ')})`).join(', ');

  // Users and groups.
  const creds = m.credentials;
  const rootUsed = creds.some((c) => c.euid === 0 || c.uid === 0);
  const okChanges = m.idChanges.filter(
    (c) => c.result === 0 || c.syscall === 'setfsuid' || c.syscall === 'setfsgid',
  );
  const switchedUids = creds.filter((c) => c.euid !== 0).map((c) => c.euid);
  const switchedGids = creds.filter((c) => c.egid !== 0).map((c) => c.egid);
  const calls = [...new Set(okChanges.map((c) => `${c.syscall}(${c.args.join(', ')})`))].sort();
  const seen = `${creds.reduce((n, c) => n + c.count, 0)} exec and set*id results`;
  if (userOk && !rootUsed) {
    const uids = new Set(creds.map((c) => c.euid));
    const gids = new Set(creds.map((c) => c.egid));
    if (uids.size === 1) sc.runAsUser = [...uids][0];
    if (gids.size === 1) sc.runAsGroup = [...gids][0];
    sc.runAsNonRoot = true;
    evidence.runAsUser = `every process ran as uid ${idList(uids)} and gid ${idList(gids)} (${seen}); root was never used`;
  } else if (userOk && rootUsed && !needed.length && lockedOut(m).length) {
    const files = lockedOut(m);
    rootNeeded = {
      why:
        `no capability check needed root's privileges, but it reads what only the owner or group may: ` +
        files.map((r) => `${r.path} (${r.mode} uid ${r.uid} gid ${r.gid})`).join(', '),
      alternatives: [
        'make those files readable by a non-root user in the image (or, where they are group-readable, give the ' +
          'pod supplementalGroups with their group), then runAsUser, runAsNonRoot: true',
      ],
    };
    evidence.runAsNonRoot = 'not set: as another user it could not read those files (see rootNeeded)';
  } else if (userOk && rootUsed && !needed.length && rootfsCut) {
    // A write beyond the cut may be one only root's ownership allowed (see below).
    notObserved.push(
      'runAsUser and runAsNonRoot are not advised either: among the root filesystem writes beyond the bound may be ' +
        'one that only root, as the owner, could make',
    );
  } else if (userOk && rootUsed && !needed.length && rootfs?.unplaceable.length) {
    // No capability check means root wrote there as the owner: as another user it would get EACCES.
    rootNeeded = {
      why:
        'no capability check needed root’s privileges, but it wrote, as their owner, where no emptyDir can be ' +
        `placed: ${rootfs.unplaceable.join(', ')}`,
      alternatives: [
        'write those files under a directory of their own (then an emptyDir there, or one owned by a non-root user ' +
          'in the image), then runAsUser, runAsNonRoot: true',
      ],
    };
    evidence.runAsNonRoot = 'not set: as another user it could not write those files (see rootNeeded)';
  } else if (userOk && rootUsed && !needed.length) {
    sc.runAsUser = UNPRIVILEGED_ID;
    sc.runAsGroup = UNPRIVILEGED_ID;
    sc.runAsNonRoot = true;
    evidence.runAsUser =
      `it ran as root, but no capability check needed root's privileges and it read nothing other users may not ` +
      `(${seen}); ${UNPRIVILEGED_ID} (nobody) is a conventional unprivileged id`;
    const volumeWrites = [
      ...new Set(
        m.writes
          .filter((w) => w.rootfs === 'no' && m.mounts.some((mp) => under(w.path, mp)))
          .map((w) => w.path),
      ),
    ];
    if (volumeWrites.length) {
      notes.push(
        `as uid ${UNPRIVILEGED_ID} it must still be able to write ${volumeWrites.join(', ')} on its volumes: ` +
          `give the pod fsGroup: ${UNPRIVILEGED_ID} where the volume type supports it`,
      );
    }
  } else if (userOk && rootUsed) {
    const drop = okChanges.some((c) => UID_CALLS.has(c.syscall) || GID_CALLS.has(c.syscall));
    const to = switchedUids.length
      ? ` and switches to uid ${idList(switchedUids)} gid ${idList(switchedGids)}`
      : '';
    rootNeeded = {
      why:
        `the entrypoint starts as root${to}${drop ? ` (${calls.join(', ')})` : ''}, ` +
        `using root's capabilities ${usage}`,
      alternatives: [
        switchedUids.length
          ? `an image that starts as uid ${idList(switchedUids)} (an unprivileged variant), then runAsUser: ${switchedUids[0]} and runAsNonRoot: true`
          : 'an image built to run as a non-root user, then runAsUser and runAsNonRoot: true',
      ],
    };
    if (neededNames.includes('NET_BIND_SERVICE')) {
      rootNeeded.alternatives.push(
        'listen on a port ≥ 1024 (e.g. 8080) instead, or let a non-root user bind low ports with the pod sysctl ' +
          'net.ipv4.ip_unprivileged_port_start=0 (a safe sysctl)',
      );
    }
    evidence.runAsNonRoot = 'not set: root is needed (see rootNeeded)';
  }
  if (current.runAsUser === 0 && sc.runAsUser !== undefined)
    unused.push('runAsUser: 0 (root was not needed)');

  // Capabilities.
  if (start && !capsCut) {
    sc.capabilities = { drop: ['ALL'], ...(neededNames.length ? { add: neededNames } : {}) };
    evidence.capabilities = neededNames.length
      ? `granted checks that needed them: ${usage}; every other capability was never needed`
      : 'no capability check needed a capability';
  }
  // "Never used" needs the whole life: what start-up used is unknown when it was not seen.
  const added = start ? (current.capabilities?.add ?? []) : [];
  for (const cap of added)
    if (!neededNames.includes(cap.replace(/^CAP_/, ''))) unused.push(`capabilities.add ${cap}`);
  if (start && current.privileged) {
    sc.privileged = false;
    evidence.privileged = `privileged was set; the capabilities it used are ${usage || 'none'} (device access is not traced)`;
    unused.push('privileged: true');
  }

  // Privilege gained through exec.
  if (start && !execsCut) {
    if (m.execs.length) {
      sc.allowPrivilegeEscalation = true;
      evidence.allowPrivilegeEscalation = `exec gained privilege: ${m.execs
        .map(
          (e) =>
            `${e.path} (euid ${e.euid[0]}→${e.euid[1]}, egid ${e.egid[0]}→${e.egid[1]}, caps ${e.capEffective[0]}→${e.capEffective[1]})`,
        )
        .join('; ')}`;
    } else {
      sc.allowPrivilegeEscalation = false;
      evidence.allowPrivilegeEscalation =
        'no exec gained privilege (no set-user-id, set-group-id or file-capability binary ran)';
    }
  }

  // Root filesystem.
  let emptyDirs: string[] = [];
  if (rootfs) {
    const w = rootfs;
    if (w.unplaceable.length) {
      sc.readOnlyRootFilesystem = false;
      evidence.readOnlyRootFilesystem =
        `it wrote to the root filesystem where no emptyDir can be placed: ${w.unplaceable.join(', ')} ` +
        '(relative paths are relative to its working directory, which the agent does not resolve)';
    } else {
      sc.readOnlyRootFilesystem = true;
      emptyDirs = w.dirs;
      evidence.readOnlyRootFilesystem = w.total
        ? `its ${w.total} root filesystem writes all fall in ${w.dirs.join(', ')}: an emptyDir each`
        : 'it never wrote to the root filesystem';
      const hidden = w.dirs.filter((d) => !SCRATCH.some((re) => re.test(d)));
      if (hidden.length) {
        notes.push(
          `an emptyDir hides what the image has in ${hidden.join(', ')}; check the image keeps nothing needed there`,
        );
      }
    }
  }

  // A non-root bind below 1024: no capability helps a non-root process (Kubernetes sets no ambient
  // capabilities), only the sysctl does; the runtime set it here, the pod spec makes it hold anywhere.
  const sysctls: { name: string; value: string }[] = [];
  if (ports.user.length) {
    sysctls.push({ name: PORT_SYSCTL, value: String(Math.min(...ports.user)) });
    evidence.sysctls =
      `it bound port ${ports.user.join(', ')} as a non-root user, which only ${PORT_SYSCTL} ≤ ${Math.min(...ports.user)} ` +
      'allows; its runtime set it, so the pod spec sets it too to hold on any runtime';
  }

  // seccomp.
  sc.seccompProfile = opts.seccompProfile
    ? { type: 'Localhost', localhostProfile: opts.seccompProfile }
    : { type: 'RuntimeDefault' };
  evidence.seccompProfile = opts.seccompProfile
    ? `the profile named with --seccomp-profile`
    : 'the runtime’s default filter (pass --seccomp-profile NAME for a profile recorded by a seccomp session)';

  return {
    name: m.container,
    securityContext: sc,
    emptyDirs,
    evidence,
    ...(rootNeeded ? { rootNeeded } : {}),
    notObserved,
    unused,
    ignoredChecks: ignored,
    notes,
    reliedOn,
    ...(sysctls.length ? { sysctls } : {}),
  };
}

interface LowPorts {
  /** Ports below 1024 root bound only because the pod's sysctl (set by the runtime) allowed any user. */
  root: number[];
  rootStart?: number;
  /** Ports below 1024 a non-root process bound: only the sysctl allows that. */
  user: number[];
  reliedOn: string[];
}

/**
 * Binds below 1024 and the sysctl that let them pass. A pod spec that sets the sysctl low enough
 * makes them portable; one the runtime set (containerd 2 sets 0 in every pod) is a property of
 * this node's runtime, not of the workload.
 */
function lowPorts(m: Merged, podSysctls: { name: string; value: string }[]): LowPorts {
  const set = podSysctls.find((s) => s.name === PORT_SYSCTL);
  const specStart = set && /^[0-9]+$/.test(set.value) ? Number(set.value) : undefined;
  const out: LowPorts = { root: [], user: [], reliedOn: [] };
  const starts = new Set<number>();
  for (const b of m.lowBinds ?? []) {
    starts.add(b.portStart);
    if (specStart !== undefined && b.port >= specStart) continue;
    // Below the sysctl the kernel checked the capability: the check is in capChecks.
    if (b.port < b.portStart) continue;
    if (b.root) {
      out.root.push(b.port);
      out.rootStart = b.portStart;
    } else out.user.push(b.port);
  }
  out.root = [...new Set(out.root)].sort((a, b) => a - b);
  out.user = [...new Set(out.user)].sort((a, b) => a - b);
  const start = m.unprivilegedPortStart ?? (starts.size ? Math.max(...starts) : undefined);
  if (start !== undefined) {
    out.reliedOn.push(
      `${PORT_SYSCTL}=${start} in the pod's network namespace (read from the kernel by the agent; ` +
        (specStart !== undefined
          ? `the pod spec sets ${specStart})`
          : 'set by the runtime, not the pod spec: containerd 2 sets 0, others leave the kernel’s 1024)'),
    );
  }
  return out;
}

/** Kubernetes volume name for an emptyDir at a path: DNS-1123 label, stable. */
export function emptyDirName(path: string): string {
  const slug = path
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `harden-${slug || 'root'}`.slice(0, 63).replace(/-+$/, '');
}

/** The pod spec with the advice applied, as a strategic merge patch would leave it. */
export function applyAdvice(
  pod: PodSpec,
  containers: ContainerAdvice[],
  sysctls?: { name: string; value: string }[],
): PodSpec {
  const byName = new Map(containers.map((c) => [c.name, c]));
  const volumes = [...(pod.volumes ?? [])];
  for (const dir of containers.flatMap((c) => c.emptyDirs)) {
    const name = emptyDirName(dir);
    if (!volumes.some((v) => v.name === name)) volumes.push({ name, emptyDir: {} });
  }
  const advised = (c: ContainerSpec): ContainerSpec => {
    const a = byName.get(c.name);
    if (!a) return c;
    const mounts = [...(c.volumeMounts ?? [])];
    for (const dir of a.emptyDirs) {
      if (!mounts.some((m) => m.mountPath === dir)) mounts.push({ name: emptyDirName(dir), mountPath: dir });
    }
    return { ...c, securityContext: { ...c.securityContext, ...a.securityContext }, volumeMounts: mounts };
  };
  return {
    ...pod,
    ...(sysctls ? { securityContext: { ...pod.securityContext, sysctls } } : {}),
    volumes,
    containers: pod.containers.map(advised),
    ...(pod.initContainers ? { initContainers: pod.initContainers.map(advised) } : {}),
  };
}

export interface WorkloadInput {
  namespace: string;
  workload: string;
  records: PrivilegeRecord[];
  /** The pod spec at stop time (the workload's template, or the pod's own); undefined when gone. */
  podSpec?: PodSpec;
}

/** The container of that name in the pod spec, and whether it is an init container. */
export function containerOf(
  pod: PodSpec | undefined,
  name: string,
): { spec: ContainerSpec | undefined; init: boolean } {
  const init = pod?.initContainers?.find((c) => c.name === name);
  return { spec: init ?? pod?.containers.find((c) => c.name === name), init: Boolean(init) };
}

export function adviseWorkload(input: WorkloadInput, opts: AdviseOptions = {}): WorkloadAdvice {
  const names = [...new Set(input.records.map((r) => r.container))].sort();
  const current = input.podSpec?.securityContext?.sysctls ?? [];
  const containers = names.map((name) => {
    const { spec, init } = containerOf(input.podSpec, name);
    const a = adviseContainer(
      mergeRecords(input.records.filter((r) => r.container === name)),
      spec,
      opts,
      current,
    );
    return init ? { ...a, init } : a;
  });
  const podSysctls = withSysctls(
    current,
    containers.flatMap((c) => c.sysctls ?? []),
  );
  const pod: PodSpec = input.podSpec ?? { containers: containers.map((c) => ({ name: c.name })) };
  const unused: string[] = [];
  for (const ns of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (pod[ns])
      unused.push(
        `${ns}: true (nothing recorded needs it, though namespaces are not traced: remove it and test)`,
      );
  }
  return {
    namespace: input.namespace,
    workload: input.workload,
    containers,
    pss: evaluatePss(applyAdvice(pod, containers, podSysctls)),
    unused,
    ...(podSysctls ? { podSysctls } : {}),
  };
}

/**
 * The pod's sysctls with the containers' needs: the lowest port start any of them needs (a sysctl
 * is the pod's, one value for all its containers). Undefined when nothing is to be added.
 */
function withSysctls(
  current: { name: string; value: string }[],
  needs: { name: string; value: string }[],
): { name: string; value: string }[] | undefined {
  if (!needs.length) return undefined;
  const out = current.map((s) => ({ ...s }));
  for (const n of needs) {
    const have = out.find((s) => s.name === n.name);
    if (!have) out.push({ ...n });
    else if (Number(n.value) < Number(have.value)) have.value = n.value;
  }
  return out;
}

/** Every workload of a session: records grouped by workload name. */
export function adviseSession(
  namespace: string,
  records: PrivilegeRecord[],
  specs: Map<string, PodSpec | undefined>,
  opts: AdviseOptions = {},
): WorkloadAdvice[] {
  const names = [...new Set(records.map((r) => r.workload || r.pod))].sort();
  return names.map((workload) =>
    adviseWorkload(
      {
        namespace,
        workload,
        records: records.filter((r) => (r.workload || r.pod) === workload),
        podSpec: specs.get(workload),
      },
      opts,
    ),
  );
}
