import { HardenError } from '../errors';
import type { Kube } from '../kube/client';
import { ownerOf, type KubeObject, type Pod } from '../kube/objects';
import { R, resourcePath, type ResourceRef } from '../kube/paths';
import { adviseSession, containerOf, LIST_NAMES, type WorkloadAdvice } from '../securitycontext/advise';
import { strategicPatch } from '../securitycontext/patch';
import type { PodSpec, WorkloadRef } from '../securitycontext/types';
import { privilegeRecordsOf } from '../agent/recorders/privileges/session';
import {
  MAX_PRIVILEGE_ENTRIES,
  MAX_PRIVILEGE_ENTRIES_PER_NODE,
  PRIVILEGE_LISTS,
  type PrivilegeList,
  type PrivilegeRecord,
} from '../agent/recorders/privileges/types';
import { execProbesOf, missedLife, runsToCompletion } from '../session/life';
import { API_VERSION } from '../session/types';
import { toJson, toYaml } from './output';
import type { SecurityContextOptions } from './securitycontext';
import type { KindResult, Rendered } from './session-kind';

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
    let owner = ownerOf(pod);
    const res = owner ? OWNER_RESOURCES[owner.kind] : undefined;
    if (owner && res) {
      let obj = await kube.getOptional<Templated>(resourcePath(res, { namespace, name: owner.name }));
      // A CronJob's run: its Job's template is immutable and made anew each run; the CronJob's is the one to patch.
      const cron = owner.kind === 'Job' && obj ? ownerOf(obj) : null;
      if (cron?.kind === 'CronJob') {
        owner = cron;
        obj = await kube.getOptional<Templated>(resourcePath(R.cronjobs, { namespace, name: cron.name }));
      }
      const spec = obj?.spec?.template?.spec ?? obj?.spec?.jobTemplate?.spec?.template?.spec;
      if (spec) return { ref: { kind: owner.kind, name: owner.name, namespace }, spec };
      // Its owner is gone (the garbage collector deletes the pod next): patching the pod would be wrong.
      continue;
    }
    return { ref: { kind: 'Pod', name: pod.metadata.name, namespace }, spec: pod.spec as PodSpec };
  }
  return {};
}

/** What stderr says of a workload's advice: its Pod Security Standard, where root is needed, what was not seen. */
function summary(a: WorkloadAdvice, ref: WorkloadRef | undefined): string[] {
  const who = ref ? `${ref.kind.toLowerCase()}/${ref.name}` : a.workload;
  const lines = [`${who}: meets Pod Security Standard "${a.pss.level}" with this advice`];
  if (a.pss.level !== 'restricted')
    lines.push(`${who}: not restricted because: ${a.pss.restrictedViolations.join('; ')}`);
  for (const c of a.containers) {
    if (c.rootNeeded)
      lines.push(
        `${who}/${c.name}: root is needed: ${c.rootNeeded.why}; alternatives: ${c.rootNeeded.alternatives.join('; or ')}`,
      );
    for (const n of c.notObserved) lines.push(`warning: ${who}/${c.name}: ${n}`);
    for (const n of c.notes) lines.push(`${who}/${c.name}: ${n}`);
    // What another cluster may not give: where it differs, so may the right advice.
    for (const r of c.reliedOn) lines.push(`${who}/${c.name}: relied on ${r}`);
  }
  return lines;
}

/**
 * Each container's lists that hit the agent's bound, once per workload and container (replicas
 * share them), and what that costs: the advice withholds what those lists decide; the volume
 * writes decide nothing, but the paths named may be incomplete. Stop says so before printing it.
 */
function truncatedLists(records: PrivilegeRecord[]): string[] {
  const cut = new Map<string, Set<PrivilegeList>>();
  for (const r of records) {
    const lists = r.truncatedLists ?? (r.truncated ? [...PRIVILEGE_LISTS] : []);
    if (!lists.length) continue;
    const who = `${r.workload || r.pod}/${r.container}`;
    cut.set(who, new Set([...(cut.get(who) ?? []), ...lists]));
  }
  return [...cut]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([who, lists]) =>
        `${who}: the agent's list of ${[...lists].map((l) => LIST_NAMES[l]).join(', of ')} hit its bound ` +
        `(${MAX_PRIVILEGE_ENTRIES} entries per list, ${MAX_PRIVILEGE_ENTRIES_PER_NODE} across a node's records): ` +
        ([...lists].some((l) => l !== 'volumeWrites')
          ? 'the advice withholds what those lists decide'
          : 'the volume paths the advice names may be incomplete'),
    );
}

/** The records by workload (a bare pod is its own), as the advice is given. */
function byWorkload(records: PrivilegeRecord[]): Map<string, PrivilegeRecord[]> {
  const out = new Map<string, PrivilegeRecord[]>();
  for (const r of records) out.set(r.workload || r.pod, [...(out.get(r.workload || r.pod) ?? []), r]);
  return out;
}

/**
 * A session's securityContext advice, from its privilege records and each workload's pod spec as
 * it is now (read through kube): the advice itself is pure (lib/securitycontext).
 */
export const securityContextResult: KindResult<SecurityContextOptions> = {
  unprintable: (session, opts) => {
    if (opts.output !== 'patch') return undefined;
    const workloads = [...byWorkload(privilegeRecordsOf(session)).keys()].sort();
    if (workloads.length < 2) return undefined;
    return {
      why: `session "${session.metadata.name}" recorded ${workloads.length} workloads (${workloads.join(', ')}); a patch is for one`,
      instead: '-o yaml',
    };
  },

  truncated: (session) => truncatedLists(privilegeRecordsOf(session)),

  render: async (session, opts, kube): Promise<Rendered> => {
    const namespace = session.metadata.namespace;
    const where = `session "${session.metadata.name}" in namespace "${namespace}" (context "${kube.ctx.context}")`;
    const records = privilegeRecordsOf(session);
    if (!records.length) {
      throw new HardenError(
        `${where} recorded no container`,
        'Did the target pods run on a node with a ready agent while the session ran? See kubectl harden status.',
      );
    }
    const notes: string[] = [];
    const found = new Map<string, Found>();
    for (const [w, rs] of byWorkload(records)) {
      const f = await findWorkload(kube, namespace, rs);
      if (!f.spec)
        notes.push(
          `warning: no pod of ${w} is left in namespace "${namespace}": what its spec sets but never used, and its ` +
            'owner (for -o patch), are unknown',
        );
      found.set(w, f);
    }
    const specs = new Map([...found].map(([w, f]) => [w, f.spec]));
    const advice = adviseSession(namespace, records, specs, { seccompProfile: opts.seccompProfile });
    for (const a of advice) notes.push(...summary(a, found.get(a.workload)?.ref));
    // Per workload and container, what of its life was not seen and what that risks.
    const partialLife: string[] = [];
    for (const [w, rs] of byWorkload(records)) {
      const f = found.get(w);
      const who = f?.ref ? `${f.ref.kind.toLowerCase()}/${f.ref.name}` : w;
      for (const name of [...new Set(rs.map((r) => r.container))].sort()) {
        const { spec } = containerOf(f?.spec, name);
        const mine = rs.filter((r) => r.container === name);
        const terms = {
          result: 'advice',
          shutdownNeeds: 'CAP_KILL',
          runsToCompletion: runsToCompletion(f?.spec, name),
        };
        for (const m of missedLife(mine, execProbesOf(spec), terms))
          partialLife.push(`warning: ${who}/${name}: ${m}`);
      }
    }
    notes.push(...partialLife);
    if (opts.output === 'patch') {
      const ref = found.get(advice[0].workload)?.ref;
      if (!ref) {
        const failure = new HardenError(
          `the owner of ${advice[0].workload} is unknown: none of its pods is left in namespace "${namespace}"`,
          'Print the advice with -o yaml and apply it by hand.',
        );
        return { out: '', notes, failure };
      }
      if (ref.kind === 'Pod')
        notes.push(
          `pod/${ref.name} has no controller and a pod's securityContext cannot change in place: recreate it with this patch, ` +
            `e.g. kubectl get pod ${ref.name} -o yaml | kubectl patch --local -f - -p "$(cat patch.json)" -o yaml | kubectl replace --force -f -`,
        );
      return { out: toJson(strategicPatch(ref.kind, advice[0])), notes, partialLife };
    }
    const docs = advice.map((a) =>
      adviceDocument(
        { name: a.workload, namespace: a.namespace },
        found.get(a.workload)?.ref ?? { name: a.workload },
        a,
      ),
    );
    const out = docs.length === 1 ? docs[0] : { apiVersion: 'v1', kind: 'List', items: docs };
    return { out: opts.output === 'json' ? toJson(out) : toYaml(out), notes, partialLife };
  },
};

/** A SecurityContextAdvice object: one workload's advice with its evidence (stop -o yaml, record's file). */
export function adviceDocument(
  metadata: { name: string; namespace: string },
  workload: { kind?: string; name: string },
  a: WorkloadAdvice,
) {
  return {
    apiVersion: API_VERSION,
    kind: 'SecurityContextAdvice',
    metadata,
    workload,
    podSecurityStandard: {
      level: a.pss.level,
      ...(a.pss.restrictedViolations.length ? { notRestrictedBecause: a.pss.restrictedViolations } : {}),
    },
    ...(a.unused.length ? { unused: a.unused } : {}),
    ...(a.podSysctls ? { podSysctls: a.podSysctls } : {}),
    containers: a.containers,
  };
}
