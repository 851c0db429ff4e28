import { HardenError } from '../errors';
import type { Kube } from '../kube/client';
import { ownerOf, type KubeObject, type Pod } from '../kube/objects';
import { R, resourcePath, type ResourceRef } from '../kube/paths';
import { adviseSession, type WorkloadAdvice } from '../securitycontext/advise';
import { strategicPatch } from '../securitycontext/patch';
import type { PodSpec, WorkloadRef } from '../securitycontext/types';
import { deleteSession, getSession } from '../session/client';
import type { PrivilegeRecord } from '../agent/recorders/privileges/types';
import { API_VERSION, type TraceSession } from '../session/types';
import type { Deps, Io } from './context';
import { toJson, toYaml } from './output';
import { startAndAnnounce, stopAndCollect, warnGaps, type StartOptions } from './session-verbs';

export type AdviceFormat = 'yaml' | 'json' | 'patch';

export interface ScShowOptions {
  id: string;
  output: AdviceFormat;
  /** A Localhost seccomp profile to advise instead of RuntimeDefault. */
  seccompProfile?: string;
}

export interface ScStopOptions extends ScShowOptions {
  keep: boolean;
  /** Advise even when a target was not traced for a while (the gaps are named on stderr). */
  acceptGaps: boolean;
  /** How long to wait for the agents' final flush. */
  timeoutMs: number;
}

export async function runScStart(opts: StartOptions, deps: Deps): Promise<void> {
  await startAndAnnounce(
    'capabilities',
    'securitycontext',
    '> advice.yaml   (or -o patch > patch.json)',
    opts,
    deps,
  );
}

export async function runScStop(opts: ScStopOptions, deps: Deps): Promise<void> {
  const session = await stopAndCollect(
    'capabilities',
    'securitycontext',
    { ...opts, missing: 'privileges used then are not in the advice, which could take away what they need' },
    deps,
  );
  // Render before deleting: an error here must leave the recorded data in place.
  await emitAdvice(deps.kube, session, opts, deps.io);
  if (!opts.keep) await deleteSession(deps.kube, deps.kube.namespace, opts.id);
}

export async function runScShow(opts: ScShowOptions, { kube, io }: Pick<Deps, 'kube' | 'io'>): Promise<void> {
  const session = await getSession(kube, kube.namespace, opts.id, 'capabilities');
  warnGaps(session, io);
  await emitAdvice(kube, session, opts, io);
}

const OWNER_RESOURCES: Record<string, ResourceRef> = {
  Deployment: R.deployments,
  StatefulSet: R.statefulsets,
  DaemonSet: R.daemonsets,
  ReplicaSet: R.replicasets,
  Job: R.jobs,
  CronJob: R.cronjobs,
};

interface Templated extends KubeObject {
  spec?: { template?: { spec?: PodSpec }; jobTemplate?: { spec?: { template?: { spec?: PodSpec } } } };
}

interface Found {
  ref?: WorkloadRef;
  spec?: PodSpec;
}

/**
 * The workload a session's records belong to, and its pod spec now: the owner's template (what a
 * patch changes), else the pod's own. Undefined when none of its pods is left to say.
 */
async function findWorkload(kube: Kube, namespace: string, records: PrivilegeRecord[]): Promise<Found> {
  for (const name of [...new Set(records.map((r) => r.pod))]) {
    const pod = await kube.getOptional<Pod>(resourcePath(R.pods, { namespace, name }));
    // A pod being deleted is not left: after its workload's deletion it lingers while it stops.
    if (!pod || pod.metadata.deletionTimestamp) continue;
    const owner = ownerOf(pod);
    const res = owner ? OWNER_RESOURCES[owner.kind] : undefined;
    if (owner && res) {
      const obj = await kube.getOptional<Templated>(resourcePath(res, { namespace, name: owner.name }));
      const spec = obj?.spec?.template?.spec ?? obj?.spec?.jobTemplate?.spec?.template?.spec;
      if (spec) return { ref: { kind: owner.kind, name: owner.name, namespace }, spec };
      // Its owner is gone (the garbage collector deletes the pod next): patching the pod would be wrong.
      continue;
    }
    return { ref: { kind: 'Pod', name: pod.metadata.name, namespace }, spec: pod.spec as PodSpec };
  }
  return {};
}

function summarize(a: WorkloadAdvice, ref: WorkloadRef | undefined, io: Io): void {
  const who = ref ? `${ref.kind.toLowerCase()}/${ref.name}` : a.workload;
  io.err(`${who}: meets Pod Security Standard "${a.pss.level}" with this advice`);
  if (a.pss.level !== 'restricted') {
    io.err(`${who}: not restricted because: ${a.pss.restrictedViolations.join('; ')}`);
  }
  for (const c of a.containers) {
    if (c.rootNeeded) {
      io.err(
        `${who}/${c.name}: root is needed: ${c.rootNeeded.why}; alternatives: ${c.rootNeeded.alternatives.join('; or ')}`,
      );
    }
    for (const n of c.notObserved) io.err(`warning: ${who}/${c.name}: ${n}`);
    for (const n of c.notes) io.err(`${who}/${c.name}: ${n}`);
  }
}

async function emitAdvice(kube: Kube, session: TraceSession, opts: ScShowOptions, io: Io): Promise<void> {
  const namespace = session.metadata.namespace;
  const where = `session "${session.metadata.name}" in namespace "${namespace}" (context "${kube.ctx.context}")`;
  const records = (session.status?.nodes ?? []).flatMap((n) => n.privileges ?? []);
  if (!records.length) {
    throw new HardenError(
      `${where} recorded no container`,
      'Did the target pods run on a node with a ready agent while the session ran? See kubectl harden status.',
    );
  }
  const byWorkload = new Map<string, PrivilegeRecord[]>();
  for (const r of records)
    byWorkload.set(r.workload || r.pod, [...(byWorkload.get(r.workload || r.pod) ?? []), r]);
  const found = new Map<string, Found>();
  for (const [w, rs] of byWorkload) {
    const f = await findWorkload(kube, namespace, rs);
    if (!f.spec) {
      io.err(
        `warning: no pod of ${w} is left in namespace "${namespace}": what its spec sets but never used, and its ` +
          'owner (for -o patch), are unknown',
      );
    }
    found.set(w, f);
  }
  const specs = new Map([...found].map(([w, f]) => [w, f.spec]));
  const advice = adviseSession(namespace, records, specs, { seccompProfile: opts.seccompProfile });
  for (const a of advice) summarize(a, found.get(a.workload)?.ref, io);
  if (opts.output === 'patch') {
    if (advice.length !== 1) {
      throw new HardenError(
        `${where} recorded ${advice.length} workloads (${advice.map((a) => a.workload).join(', ')}); a patch is for one`,
        'Print them all with -o yaml, or trace one workload per session.',
      );
    }
    const ref = found.get(advice[0].workload)?.ref;
    if (!ref) {
      throw new HardenError(
        `the owner of ${advice[0].workload} is unknown: none of its pods is left in namespace "${namespace}"`,
        'Print the advice with -o yaml and apply it by hand.',
      );
    }
    if (ref.kind === 'Pod') {
      io.err(
        `pod/${ref.name} has no controller and a pod's securityContext cannot change in place: recreate it with this patch, ` +
          `e.g. kubectl get pod ${ref.name} -o yaml | kubectl patch --local -f - -p "$(cat patch.json)" -o yaml | kubectl replace --force -f -`,
      );
    }
    io.out(toJson(strategicPatch(ref.kind, advice[0])));
    return;
  }
  const docs = advice.map((a) => ({
    apiVersion: API_VERSION,
    kind: 'SecurityContextAdvice',
    metadata: { name: a.workload, namespace: a.namespace },
    workload: found.get(a.workload)?.ref ?? { name: a.workload },
    podSecurityStandard: {
      level: a.pss.level,
      ...(a.pss.restrictedViolations.length ? { notRestrictedBecause: a.pss.restrictedViolations } : {}),
    },
    ...(a.unused.length ? { unused: a.unused } : {}),
    containers: a.containers,
  }));
  const out = docs.length === 1 ? docs[0] : { apiVersion: 'v1', kind: 'List', items: docs };
  io.out(opts.output === 'json' ? toJson(out) : toYaml(out));
}
