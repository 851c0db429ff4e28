/**
 * `seccomp audit`: what an installed profile's enforcing variant would have denied a workload,
 * from the agents' own syscall records of its pods (an audit session) compared with the profile.
 * Pure: the session's records and the profile come as data.
 *
 * Why the recorder and not the kernel's SCMP_ACT_LOG records: those reach user space only through
 * the audit subsystem (the audit netlink socket, or the kernel log when no audit daemon listens),
 * which many node kernels lack or disable, they are rate limited, and they carry a pid that may be
 * gone by the time it is read; the agent's recorder already knows each syscall's container.
 */
import { InstallError, letsRun, parseProfile, type SeccompProfileInstall } from './install';
import { isNodeArch, syscallName, UnknownSyscallError } from './names';

/** On a TraceSession: it is the audit session of this installed profile (the value is its name). */
export const AUDIT_LABEL = 'harden.dev/seccomp-audit';
/** On an audit session: the workload (kind/name) whose pods it traces. */
export const AUDIT_WORKLOAD_ANNOTATION = 'harden.dev/audit-workload';

/** On an audit variant's install: what its enforcing profile decides (JSON of an Enforcing). */
export const ENFORCING_ANNOTATION = 'harden.dev/enforcing';

/**
 * What the audit needs of an enforcing profile, kept apart from its audit variant (which logs
 * wherever the profile would stop a syscall): its default action, the names its allowing rules
 * name, and those its denying rules name without argument conditions (the records carry no
 * arguments, so a conditional rule is taken to let the syscall run).
 */
export interface Enforcing {
  defaultAction: string;
  allows: string[];
  denies: string[];
}

export function enforcingOf(profile: Record<string, unknown>): Enforcing {
  const allows = new Set<string>();
  const denies = new Set<string>();
  for (const rule of (profile.syscalls as unknown[] | undefined) ?? []) {
    const r = rule as { names?: unknown; name?: unknown; action?: unknown; args?: unknown };
    const names: unknown[] = Array.isArray(r.names) ? r.names : r.name === undefined ? [] : [r.name];
    const conditional = Array.isArray(r.args) && r.args.length > 0;
    const into = letsRun(r.action) ? allows : conditional ? undefined : denies;
    for (const n of names) if (typeof n === 'string') into?.add(n);
  }
  return {
    defaultAction: String(profile.defaultAction),
    allows: [...allows].sort(),
    denies: [...denies].sort(),
  };
}

/**
 * What an install's enforcing profile decides: its annotation, checked (an object anyone may
 * edit), or for an install made before it was kept, its audit variant read with the default the
 * variant replaced taken to deny (such variants kept every rule's action).
 */
export function enforcingOfInstall(install: SeccompProfileInstall): Enforcing {
  const kept = install.metadata.annotations?.[ENFORCING_ANNOTATION];
  if (kept === undefined)
    return { ...enforcingOf(parseProfile(install.spec.profile)), defaultAction: 'SCMP_ACT_ERRNO' };
  let e: Partial<Record<keyof Enforcing, unknown>> | undefined;
  try {
    e = JSON.parse(kept) as typeof e;
  } catch {
    e = undefined;
  }
  const names = (v: unknown): v is string[] => Array.isArray(v) && v.every((n) => typeof n === 'string');
  if (!e || typeof e.defaultAction !== 'string' || !names(e.allows) || !names(e.denies))
    throw new InstallError(
      `its annotation ${ENFORCING_ANNOTATION} is not {"defaultAction": string, "allows": [names], "denies": [names]}; install the profile again with --audit`,
    );
  return { defaultAction: e.defaultAction, allows: e.allows, denies: e.denies };
}

/**
 * Whether the enforcing profile denies a syscall, by name. With a default that stops it (an allow
 * list, as `seccomp stop` writes), every syscall no allowing rule names; with a default that lets
 * it run (a deny list), those a denying rule names and no allowing rule does.
 */
export function enforcingDenies(e: Enforcing): (name: string) => boolean {
  const allows = new Set(e.allows);
  const denies = new Set(e.denies);
  if (!letsRun(e.defaultAction)) return (name) => !allows.has(name);
  return (name) => denies.has(name) && !allows.has(name);
}

/** One container instance's record as the audit reads it (a seccomp session's container record). */
export interface AuditRecord {
  node: string;
  arch: string;
  pod: string;
  workload?: string;
  container: string;
  recordedFromStart: boolean;
  syscalls: readonly number[];
  /** `[nr, intervals, firstSeen, lastSeen]`, Unix seconds (see the syscalls recorder). */
  seen?: readonly (readonly number[])[];
}

export interface DeniedSyscall {
  syscall: string;
  /** In how many of the agents' print intervals (1 s by default) it was made, summed over pods. */
  count: number;
  firstSeen?: string;
  lastSeen?: string;
}

export interface AuditEntry {
  workload: string;
  container: string;
  /** The pods whose container was traced from its start. */
  pods: string[];
  denied: DeniedSyscall[];
}

export interface Audit {
  entries: AuditEntry[];
  /** pod/container traced only after it had started (before the audit): not counted. */
  notFromStart: string[];
}

const iso = (secs: number) => new Date(secs * 1000).toISOString().replace('.000Z', 'Z');

/** A number libseccomp has no name for cannot be named by a rule: the default decides it. */
function nameOf(arch: string, nr: number): string {
  if (!isNodeArch(arch)) return `#${nr}`;
  try {
    return syscallName(arch, nr);
  } catch (e) {
    if (e instanceof UnknownSyscallError) return `#${nr}`;
    throw e;
  }
}

/**
 * Per workload and container, the syscalls made that the profile `denies`, merged over its pods and nodes:
 * counts add up, the first and last seen are the earliest and latest. Only containers traced from
 * their start count: one already running when the audit began ran under another profile, and its
 * start is not in the records.
 */
export function auditOf(
  records: readonly AuditRecord[],
  denies: (name: string) => boolean,
  workloadLabel: (workload: string) => string = (w) => w,
): Audit {
  const byKey = new Map<
    string,
    { entry: AuditEntry; denied: Map<string, DeniedSyscall & { f?: number; l?: number }> }
  >();
  const notFromStart: string[] = [];
  for (const r of records) {
    if (!r.recordedFromStart) {
      notFromStart.push(`${r.pod}/${r.container}`);
      continue;
    }
    const workload = workloadLabel(r.workload || r.pod);
    const key = `${workload}\u0000${r.container}`;
    let acc = byKey.get(key);
    if (!acc)
      byKey.set(
        key,
        (acc = { entry: { workload, container: r.container, pods: [], denied: [] }, denied: new Map() }),
      );
    if (!acc.entry.pods.includes(r.pod)) acc.entry.pods.push(r.pod);
    const seen = new Map((r.seen ?? []).map((t) => [t[0], t]));
    for (const nr of r.syscalls) {
      const name = nameOf(r.arch, nr);
      if (!denies(name)) continue;
      const t = seen.get(nr);
      const d = acc.denied.get(name) ?? { syscall: name, count: 0 };
      if (t) {
        d.count += t[1];
        d.f = d.f === undefined ? t[2] : Math.min(d.f, t[2]);
        d.l = d.l === undefined ? t[3] : Math.max(d.l, t[3]);
      }
      acc.denied.set(name, d);
    }
  }
  const entries = [...byKey.values()]
    .map(({ entry, denied }) => ({
      ...entry,
      pods: [...entry.pods].sort(),
      denied: [...denied.values()]
        .sort((a, b) => a.syscall.localeCompare(b.syscall))
        .map(({ f, l, ...d }) => ({
          ...d,
          ...(f !== undefined ? { firstSeen: iso(f) } : {}),
          ...(l !== undefined ? { lastSeen: iso(l) } : {}),
        })),
    }))
    .sort((a, b) => a.workload.localeCompare(b.workload) || a.container.localeCompare(b.container));
  return { entries, notFromStart: notFromStart.sort() };
}
