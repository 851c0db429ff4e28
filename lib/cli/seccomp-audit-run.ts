/**
 * `seccomp audit NAME`: what the enforcing variant of an installed profile would have denied the
 * workloads running under its audit variant. `seccomp apply` of the audit variant arms a seccomp
 * session on the workload's pods (its own selector, so each new pod of the rollout is traced from
 * its first instruction), labelled with the profile's name and owned by its SeccompProfileInstall
 * (uninstall deletes it with the object); applying the enforcing variant stops it. `audit` reads
 * those sessions without stopping them, as `show` does, and subtracts what the profile allows.
 */
import { createHash } from 'node:crypto';
import { syscallRecordsOf } from '../agent/recorders/syscalls/session';
import { HardenError } from '../errors';
import type { Kube } from '../kube/client';
import { R, resourcePath } from '../kube/paths';
import type { LabelSelector } from '../labels';
import {
  auditOf,
  enforcingDenies,
  enforcingOfInstall,
  AUDIT_LABEL,
  AUDIT_WORKLOAD_ANNOTATION,
  type AuditEntry,
} from '../seccomp/audit';
import {
  checkName,
  INSTALL_KIND,
  InstallError,
  localhostProfile,
  type SeccompProfileInstall,
} from '../seccomp/install';
import { deleteSession, listSessions, stopSession } from '../session/client';
import { describeGap, gapsOf } from '../session/gaps';
import { startSession } from '../session/lifecycle';
import { sessionPhase } from '../session/phase';
import { API_VERSION, type Gap, type TraceSession } from '../session/types';
import type { Deps } from './context';
import { printObject, renderTable } from './output';

/** How long apply waits for the agents to trace the audit session before it changes the workload. */
const ARM_TIMEOUT_MS = 120_000;

const where = (kube: Kube) => `namespace "${kube.namespace}" (context "${kube.ctx.context}")`;

/** One audit session per profile, workload and container: applying again finds it. */
export function auditSessionName(profile: string, workload: string, container?: string): string {
  const h = createHash('sha256')
    .update(`${profile}\0${workload}\0${container ?? ''}`)
    .digest('hex');
  return `sca-${h.slice(0, 10)}`;
}

const auditSessions = async (kube: Kube, profile: string): Promise<TraceSession[]> =>
  (await listSessions(kube, kube.namespace, 'seccomp')).filter(
    (s) => s.metadata.labels?.[AUDIT_LABEL] === profile,
  );

/**
 * Before the audit variant goes into a workload's pod template: a seccomp session on the pods of
 * its selector, tracing before the first new pod starts. A running one is kept (its window goes
 * on); a stopped one (the enforcing variant was applied meanwhile) is replaced. Returns the
 * session when this call created it, so a failed patch can take it back.
 */
export async function armAudit(
  { kube, io, interrupt }: Deps,
  opts: {
    install: SeccompProfileInstall;
    workload: string;
    selector: LabelSelector | undefined;
    container?: string;
  },
): Promise<TraceSession | undefined> {
  const { install, workload } = opts;
  if (!opts.selector?.matchLabels && !opts.selector?.matchExpressions?.length)
    throw new HardenError(
      `${workload} in ${where(kube)} has no pod selector: its pods cannot be audited; nothing was changed`,
    );
  if (!install.metadata.uid)
    throw new HardenError(`seccomp profile "${install.metadata.name}" in ${where(kube)} has no uid`);
  const id = auditSessionName(install.metadata.name, workload, opts.container);
  const existing = (await auditSessions(kube, install.metadata.name)).find((s) => s.metadata.name === id);
  if (existing?.spec.state === 'Running') {
    io.err(`audit session ${id} traces ${workload} since ${existing.metadata.creationTimestamp ?? '?'}`);
    return undefined;
  }
  if (existing) await deleteSession(kube, kube.namespace, id);
  const { signal, dispose } = interrupt();
  try {
    const s = await startSession(kube, io, {
      namespace: kube.namespace,
      id,
      type: 'seccomp',
      target: { selector: opts.selector, ...(opts.container ? { containers: [opts.container] } : {}) },
      timeoutMs: ARM_TIMEOUT_MS,
      signal,
      meta: {
        labels: { [AUDIT_LABEL]: install.metadata.name },
        annotations: {
          [AUDIT_WORKLOAD_ANNOTATION]: workload + (opts.container ? ` -c ${opts.container}` : ''),
        },
        ownerReferences: [
          {
            apiVersion: API_VERSION,
            kind: INSTALL_KIND,
            name: install.metadata.name,
            uid: install.metadata.uid,
          },
        ],
      },
    });
    io.err(`audit session ${id} traces the pods of ${workload} from their start`);
    return s;
  } finally {
    dispose();
  }
}

/** The enforcing variant is in force on the workload: its audit sessions stop (their records stay). */
export async function endAudit(kube: Kube, io: Deps['io'], profile: string, workload: string): Promise<void> {
  for (const s of await auditSessions(kube, profile)) {
    const w = s.metadata.annotations?.[AUDIT_WORKLOAD_ANNOTATION] ?? '';
    if (s.spec.state !== 'Running' || (w !== workload && !w.startsWith(`${workload} -c `))) continue;
    await stopSession(kube, s);
    io.err(`audit session ${s.metadata.name} of ${w} stopped: the enforcing profile is in force`);
  }
}

export interface AuditOptions {
  name: string;
  output: 'table' | 'json' | 'yaml';
}

interface WorkloadAudit {
  workload: string;
  session: string;
  state: string;
  since?: string;
  until: string;
  containers: AuditEntry[];
  /** pod/container already running when the audit began: not under the audit variant, not counted. */
  notFromStart: string[];
  /** Intervals not listened to: what was made then is not in the list. */
  gaps: (Gap & { where: string; node: string })[];
}

/**
 * Prints the audit and returns its exit code: 0 when every audited workload may be enforced
 * (traced, pods seen from their start, nothing denied, nothing unheard), 1 otherwise, as `netpol verify`
 * reports denied flows; so `seccomp audit NAME && seccomp install FILE --name NAME` enforces only
 * on a clean audit.
 */
export async function runAudit(opts: AuditOptions, { kube, io }: Pick<Deps, 'kube' | 'io'>): Promise<number> {
  const ns = kube.namespace;
  const name = (() => {
    try {
      return checkName(opts.name);
    } catch (e) {
      if (e instanceof InstallError) throw new HardenError(`${opts.name}: ${e.message}`);
      throw e;
    }
  })();
  const install = await kube.getOptional<SeccompProfileInstall>(
    resourcePath(R.seccompprofileinstalls, { namespace: ns, name }),
  );
  if (!install)
    throw new HardenError(
      `no seccomp profile "${name}" is installed in ${where(kube)}: there is nothing to audit`,
      `Install its audit variant and put it in force: kubectl harden seccomp install FILE --name ${name} --audit -n ${ns}; kubectl harden seccomp apply deployment/NAME --profile ${name} -n ${ns}`,
    );
  if (install.spec.mode !== 'Audit')
    throw new HardenError(
      `seccomp profile "${name}" in ${where(kube)} is installed as the enforcing profile, not its audit variant: workloads under it are denied, not audited`,
      `To audit it: kubectl harden seccomp install FILE --name ${name} --audit -n ${ns}, then kubectl harden seccomp apply deployment/NAME --profile ${name} -n ${ns}`,
    );
  const sessions = await auditSessions(kube, name);
  if (!sessions.length)
    throw new HardenError(
      `the audit variant of seccomp profile "${name}" in ${where(kube)} was never applied: no workload runs under it, so nothing was audited`,
      `Put it in force first: kubectl harden seccomp apply deployment/NAME --profile ${name} -n ${ns}`,
    );
  let denies: (name: string) => boolean;
  try {
    denies = enforcingDenies(enforcingOfInstall(install));
  } catch (e) {
    if (e instanceof InstallError)
      throw new HardenError(`seccomp profile "${name}" in ${where(kube)}: ${e.message}`);
    throw e;
  }
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const audits: WorkloadAudit[] = [...sessions]
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((s) => {
      const workload = s.metadata.annotations?.[AUDIT_WORKLOAD_ANNOTATION] ?? s.metadata.name;
      const [kind] = workload.split('/');
      const { entries, notFromStart } = auditOf(syscallRecordsOf(s), denies, (w) => `${kind}/${w}`);
      const stopped = s.spec.state === 'Stopped';
      const last = (s.status?.nodes ?? [])
        .map((n) => n.lastFlush)
        .sort()
        .at(-1);
      return {
        workload,
        session: s.metadata.name,
        state: stopped ? 'Stopped' : sessionPhase(s),
        since: s.metadata.creationTimestamp,
        until: stopped ? (last ?? now) : now,
        containers: entries,
        notFromStart,
        gaps: gapsOf(s).map((g) => ({ where: g.where, node: g.node, ...g.gap })),
      };
    });
  const rel = localhostProfile(ns, name);
  if (opts.output !== 'table') {
    io.out(
      printObject(
        {
          apiVersion: API_VERSION,
          kind: 'SeccompAudit',
          metadata: { name, namespace: ns },
          profile: { localhostProfile: rel, digest: install.spec.digest },
          workloads: audits,
        },
        opts.output,
      ),
    );
  } else {
    const rows: string[][] = [];
    for (const a of audits)
      for (const c of a.containers) {
        if (!c.denied.length) rows.push([a.workload, c.container, '<none>', '', '', '']);
        for (const d of c.denied)
          rows.push([
            a.workload,
            c.container,
            d.syscall,
            String(d.count),
            d.firstSeen ?? '?',
            d.lastSeen ?? '?',
          ]);
      }
    if (rows.length)
      io.out(
        renderTable(
          ['workload', 'container', 'syscall', 'count', 'first seen', 'last seen'],
          rows,
          io.colour,
        ),
      );
  }
  for (const a of audits) explain(io, a, name, ns);
  return audits.every(enforceable) ? 0 : 1;
}

const deniedCount = (a: WorkloadAudit) => a.containers.reduce((n, c) => n + c.denied.length, 0);

/** Whether the audit's next step is to enforce: traced, pods seen from their start, nothing denied or unheard. */
const enforceable = (a: WorkloadAudit) =>
  a.state !== 'Pending' && a.containers.length > 0 && !deniedCount(a) && !a.gaps.length;

/** On stderr: the window, what it means, what it could not see, and the next step. */
function explain(io: Deps['io'], a: WorkloadAudit, profile: string, ns: string): void {
  const denied = deniedCount(a);
  const secs = a.since ? Math.max(0, (Date.parse(a.until) - Date.parse(a.since)) / 1000) : undefined;
  const window = `from ${a.since ?? '?'} to ${a.until}${secs !== undefined ? ` (${Math.round(secs)} s)` : ''}`;
  const state = a.state === 'Stopped' ? '; the audit ended when the enforcing profile was applied' : '';
  if (a.state === 'Pending')
    io.err(
      `${a.workload}: audit session ${a.session} is not traced by any agent yet (see kubectl harden status)`,
    );
  if (!a.containers.length)
    io.err(
      `${a.workload}: no pod under the audit variant has started since the audit began (${window}); its pods load the profile when they start: kubectl rollout restart ${a.workload} -n ${ns}`,
    );
  else if (denied)
    io.err(
      `${a.workload}: ${denied} syscall${denied > 1 ? 's' : ''} made ${window} would be denied by profile "${profile}"${state}; add ${denied > 1 ? 'them' : 'it'} to the profile (or record it again) before enforcing`,
    );
  else
    io.err(
      `${a.workload}: nothing made ${window} would be denied by profile "${profile}"${state}` +
        (enforceable(a)
          ? `; to enforce it: kubectl harden seccomp install FILE --name ${profile} -n ${ns} && kubectl harden seccomp apply ${a.workload.split(' ')[0]} --profile ${profile} -n ${ns}`
          : ''),
    );
  if (a.notFromStart.length)
    io.err(
      `${a.workload}: not counted, already running when the audit began (not under the audit variant): ${a.notFromStart.join(', ')}`,
    );
  for (const g of a.gaps)
    io.err(
      `${a.workload}: not listened then: ${describeGap(
        { where: g.where, node: g.node, gap: { from: g.from, to: g.to, reason: g.reason } },
        { records: 'syscalls', result: 'the audit' },
      )}`,
    );
}
