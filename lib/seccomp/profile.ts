/**
 * Seccomp profiles from what the agent observed: pure data in, profiles out.
 * One profile per container of a workload, merged across its replicas.
 */
import { hasSyscallName, isNodeArch, namesFor, UnknownSyscallError, type NodeArch } from './names';
import { RUNTIME_SYSCALLS, type ContainerRuntime } from './runtime-syscalls';

export interface ContainerObservation {
  namespace: string;
  /** Owner name (Deployment, StatefulSet, …; the pod itself when it has no owner). */
  workload: string;
  container: string;
  arch: NodeArch;
  /** Syscall numbers of the node's native ABI, from the entrypoint's first execve on. */
  syscalls: number[];
  /** The agent was tracing when the container started. */
  startSeen: boolean;
  /** The container started under a seccomp filter, so the runtime's post-filter syscalls were recorded. */
  filterSeen: boolean;
  runtime: ContainerRuntime;
}

export type SeccompArch =
  'SCMP_ARCH_X86_64' | 'SCMP_ARCH_X86' | 'SCMP_ARCH_X32' | 'SCMP_ARCH_AARCH64' | 'SCMP_ARCH_ARM';

/** A profile's rule: the observed calls allowed, or calls answered with an errno of their own. */
export type SeccompRule =
  | { names: string[]; action: 'SCMP_ACT_ALLOW' }
  | { names: string[]; action: 'SCMP_ACT_ERRNO'; errnoRet: number };

/** The JSON kubelet reads for `seccompProfile: {type: Localhost}`. */
export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ERRNO';
  architectures: SeccompArch[];
  syscalls: SeccompRule[];
}

/** ENOSYS, the same number on every architecture a profile names. */
export const ENOSYS = 38;

/**
 * containerd's and Docker's default profiles answer clone3 with ENOSYS, before the tracepoint sees
 * it, and glibc (2.34 on) then creates its threads with clone; under the default's EPERM it would
 * not fall back and pthread_create would fail. A profile that does not allow clone3 answers it the
 * way the workload was traced, so it is proven enforced as recorded.
 */
function fallbackRules(archs: NodeArch[], names: ReadonlySet<string>): SeccompRule[] {
  return archs.some((a) => hasSyscallName(a, 'clone3')) && !names.has('clone3')
    ? [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS }]
    : [];
}

export interface BuiltProfile {
  namespace: string;
  workload: string;
  container: string;
  profile: SeccompProfile;
  /** Names the runtime list contributed beyond what was observed (sorted); empty when none was added. */
  addedFromRuntimeList: string[];
  /** Human-readable provenance, for stderr. */
  notes: string[];
}

/*
 * The node's arch plus the compat ABIs its kernel also accepts: the profile lists them so libseccomp
 * knows the filter's architectures, and their syscalls fall to the default action like any other
 * unlisted call (the names are resolved per architecture by libseccomp).
 */
export const ARCHITECTURES: Record<NodeArch, SeccompArch[]> = {
  amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
};

export class ProfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProfileError';
  }
}

function key(o: Pick<ContainerObservation, 'namespace' | 'workload' | 'container'>): string {
  return JSON.stringify([o.namespace, o.workload, o.container]);
}

function label(o: Pick<ContainerObservation, 'namespace' | 'workload' | 'container'>): string {
  return `container ${o.container} of ${o.namespace}/${o.workload}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Why a replica's runtime window is missing from its observations, or undefined when it is there. */
function missingWindow(o: ContainerObservation): string | undefined {
  if (!o.startSeen) return 'start not seen';
  if (!o.filterSeen) return 'ran without a seccomp filter while traced';
  return undefined;
}

/** A container whose profile could not be built, and why; the others' profiles are. */
export interface RefusedProfile {
  namespace: string;
  workload: string;
  container: string;
  reason: string;
}

export interface Profiles {
  /** Sorted by namespace, workload, container, so two runs diff cleanly. */
  built: BuiltProfile[];
  refused: RefusedProfile[];
}

/** One profile per container of a workload; one that cannot be built does not stop the others. */
export function buildProfiles(observations: readonly ContainerObservation[]): Profiles {
  const groups = new Map<string, ContainerObservation[]>();
  for (const o of observations) {
    const k = key(o);
    const group = groups.get(k);
    if (group) group.push(o);
    else groups.set(k, [o]);
  }
  const out: Profiles = { built: [], refused: [] };
  for (const k of [...groups.keys()].sort()) {
    const replicas = groups.get(k) as ContainerObservation[];
    try {
      out.built.push(buildOne(replicas));
    } catch (e) {
      if (!(e instanceof ProfileError || e instanceof UnknownSyscallError)) throw e;
      const { namespace, workload, container } = replicas[0];
      out.refused.push({ namespace, workload, container, reason: e.message });
    }
  }
  return out;
}

function buildOne(replicas: ContainerObservation[]): BuiltProfile {
  const first = replicas[0];
  // Replicas on amd64 and arm64 nodes share one profile: its names are resolved per architecture
  // (libseccomp), so it lists both architectures and what each did.
  const archs = [...new Set(replicas.map((r) => r.arch))].sort();
  for (const arch of archs)
    if (!isNodeArch(arch))
      throw new ProfileError(`${label(first)}: unsupported node architecture ${JSON.stringify(arch)}`);
  const onAnyArch = (name: string) => archs.some((a) => hasSyscallName(a, name));

  const observed = [
    ...new Set(
      archs.flatMap((arch) =>
        namesFor(
          arch,
          replicas.filter((r) => r.arch === arch).flatMap((r) => r.syscalls),
        ),
      ),
    ),
  ];
  // Judged before any runtime list: a container that did nothing observable must not get a
  // profile made of the runtime's calls alone.
  if (observed.length === 0) {
    throw new ProfileError(`${label(first)}: no syscalls recorded, so there is nothing to allow`);
  }
  const names = new Set(observed);
  const notes: string[] = [];
  if (replicas.length > 1) notes.push(`merged ${plural(replicas.length, 'replica')}`);
  if (archs.length > 1) notes.push(`replicas ran on ${archs.join(' and ')} nodes: the profile lists both`);

  // Per runtime: which replicas lack the runtime's post-filter window, and why.
  const needed = new Map<ContainerRuntime, Map<string, number>>();
  for (const r of replicas) {
    const why = missingWindow(r);
    if (why === undefined) continue;
    const list = RUNTIME_SYSCALLS[r.runtime];
    if (!list)
      throw new ProfileError(`${label(first)}: unknown container runtime ${JSON.stringify(r.runtime)}`);
    const reasons = needed.get(r.runtime) ?? new Map<string, number>();
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
    needed.set(r.runtime, reasons);
  }

  const added = new Set<string>();
  for (const runtime of [...needed.keys()].sort()) {
    const list = RUNTIME_SYSCALLS[runtime];
    const reasons = [...(needed.get(runtime) as Map<string, number>)]
      .map(([why, n]) => `${why} (${plural(n, 'replica')})`)
      .join(', ');
    const fresh: string[] = [];
    for (const name of list.names) {
      // A name these architectures lack (select on arm64) is simply not part of their window.
      if (!onAnyArch(name) || names.has(name)) continue;
      names.add(name);
      added.add(name);
      fresh.push(name);
    }
    notes.push(
      `added ${runtime}'s post-filter syscalls because the runtime window was not recorded: ${reasons}; ` +
        `${fresh.length ? `new: ${[...fresh].sort().join(', ')}` : 'all already observed'}; source: ${list.source}`,
    );
  }
  if (needed.size === 0) {
    notes.push('runtime window recorded under a seccomp filter; no runtime list added');
  }
  const fallback = fallbackRules(archs, names);
  if (fallback.length)
    notes.push('clone3 not seen: answered ENOSYS, as the runtime default does, so glibc falls back to clone');

  // A recorded window is one start's worth: the runtime's timing-dependent calls may not have
  // happened that time and will another, so they are always allowed.
  for (const runtime of [...new Set(replicas.map((r) => r.runtime))].sort()) {
    if (needed.has(runtime)) continue; // its whole list is in already
    const fresh = RUNTIME_SYSCALLS[runtime].timingDependent.filter(
      (name) => onAnyArch(name) && !names.has(name),
    );
    for (const name of fresh) {
      names.add(name);
      added.add(name);
    }
    if (fresh.length) {
      notes.push(
        `added ${runtime}'s timing-dependent calls, which one recorded start may miss: ${fresh.sort().join(', ')}`,
      );
    }
  }
  return {
    namespace: first.namespace,
    workload: first.workload,
    container: first.container,
    profile: {
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: archs.flatMap((a) => ARCHITECTURES[a]),
      syscalls: [{ names: [...names].sort(), action: 'SCMP_ACT_ALLOW' }, ...fallback],
    },
    addedFromRuntimeList: [...added].sort(),
    notes,
  };
}

export interface SeccompProfileCrd {
  apiVersion: 'security-profiles-operator.x-k8s.io/v1beta1';
  kind: 'SeccompProfile';
  metadata: { name: string; namespace: string };
  spec: SeccompProfile;
}

// DNS-1123 subdomain, what the API server demands of metadata.name.
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * The Security Profiles Operator's object for the same profile (`-o crd`), named
 * `<namespace>.<name>`: since SPO 0.9 a SeccompProfile is cluster-scoped (the API server drops the
 * namespace, the node file is `operator/<name>.json`), so two namespaces' `web-nginx` would replace
 * one another. A namespace holds no dot, so the name stays unambiguous.
 */
export function toSeccompProfileCrd(
  base: string,
  namespace: string,
  profile: SeccompProfile,
): SeccompProfileCrd {
  const name = `${namespace}.${base}`;
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    throw new ProfileError(
      `invalid SeccompProfile name ${JSON.stringify(name)}: must be a DNS-1123 subdomain`,
    );
  }
  return {
    apiVersion: 'security-profiles-operator.x-k8s.io/v1beta1',
    kind: 'SeccompProfile',
    metadata: { name, namespace },
    spec: {
      defaultAction: profile.defaultAction,
      architectures: [...profile.architectures],
      syscalls: profile.syscalls.map((s) => ({ ...s, names: [...s.names] })),
    },
  };
}

/** `<namespace>-<workload>-<container>.<ext>`; the parts are Kubernetes names, so no path separators. */
export function profileFileName(
  namespace: string,
  workload: string,
  container: string,
  ext: 'json' | 'yaml' = 'json',
): string {
  for (const part of [namespace, workload, container]) {
    if (part === '' || part === '.' || part === '..' || /[/\\\0]/.test(part)) {
      throw new ProfileError(`cannot build a profile file name from ${JSON.stringify(part)}`);
    }
  }
  return `${namespace}-${workload}-${container}.${ext}`;
}
