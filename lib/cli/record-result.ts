/**
 * What `record` writes, from what its sessions recorded: per workload its seccomp profiles (and
 * their SeccompProfile objects), its NetworkPolicies and its securityContext advice with the patch,
 * and the summary row stdout shows. Pure: the evidence comes in (from this recording and the ones
 * already in the directory, so a re-run merges), the files go out; lib/cli/record-run.ts reads
 * the cluster and writes them.
 */
import type { PrivilegeRecord } from '../agent/recorders/privileges/types';
import type { SyscallRecord } from '../agent/recorders/syscalls/session';
import { toCiliumPolicy, type CiliumNetworkPolicy } from '../netpol/cilium';
import { splitToFit } from '../netpol/split';
import {
  toNetworkPolicy,
  type NetworkPolicy,
  type PolicyRule,
  type WorkloadPolicy,
} from '../netpol/synthesize';
import { observationsOf } from '../seccomp/from-session';
import { buildProfiles, toSeccompProfileCrd, type BuiltProfile } from '../seccomp/profile';
import { profileName } from '../seccomp/install';
import { adviseSession, containerOf, type WorkloadAdvice } from '../securitycontext/advise';
import { patchableKinds, strategicPatch } from '../securitycontext/patch';
import type { PodSpec } from '../securitycontext/types';
import type { GapReport } from '../session/gaps';
import { API_VERSION } from '../session/types';
import { toJson, toYaml, toYamlDocuments } from './output';
import { coverageOf, LACKS, type NotRecorded, type RecorderRefusal } from './record-coverage';
import { adviceDocument } from './securitycontext-result';

/** A workload as record names it: its controller (Deployment, StatefulSet, DaemonSet, …) or the bare pod. */
export interface WorkloadId {
  kind: string;
  name: string;
}

/** `deployment-nginx`: the stem of every file of one workload, and its profile's install name. */
export const workloadStem = (w: WorkloadId): string => `${w.kind.toLowerCase()}-${w.name}`;

/** One recording's evidence, as stored in the directory (`record-<id>.evidence.json`). */
export interface Evidence {
  id: string;
  startTime: string;
  endTime: string;
  restarted: boolean;
  /** Each traced pod's workload, so records of pods gone since (rolled out) still find theirs. */
  pods: Record<string, WorkloadId>;
  /** Each traced pod's node, so a recorder's refusal on a node finds the pods it did not record. */
  nodes?: Record<string, string>;
  /** Recorders refused on a node, or everywhere (their session never started). */
  refused?: RecorderRefusal[];
  syscalls: SyscallRecord[];
  privileges: PrivilegeRecord[];
  gaps: GapReport[];
}

export interface SynthesisInput {
  namespace: string;
  evidence: Evidence[];
  /** Each workload's pod template (or bare pod's spec) as it is now, by stem. */
  specs: Map<string, PodSpec | undefined>;
  /** The NetworkPolicy synthesis of every recording's flow log together. */
  policies: WorkloadPolicy[];
  netpolFormat: 'kubernetes' | 'cilium';
  runtime: 'runc' | 'crun';
}

export interface SummaryRow {
  /** kind/name, as kubectl names it. */
  workload: string;
  kind: string;
  name: string;
  /** Every container's start was traced in some recording. */
  startupRecorded: boolean;
  syscalls: number;
  peers: number;
  pss: string;
  /** Gaps in its tracing, and pods a recorder refused while it recorded others of it. */
  gaps: number;
  /** Recorders that recorded none of its pods: it has nothing of their kind. */
  notRecorded?: NotRecorded[];
  files: string[];
}

export interface Synthesis {
  files: { name: string; text: string }[];
  rows: SummaryRow[];
  notes: string[];
  /** Containers given no profile (their records stay in the evidence), as `kind/name container: why`. */
  refused: string[];
}

/** The workload a record belongs to: by its pod, else by the workload name the agent gave, else the pod. */
function resolver(evidence: Evidence[]): (pod: string, workload?: string) => WorkloadId {
  const pods = new Map<string, WorkloadId>();
  for (const e of evidence) for (const [pod, w] of Object.entries(e.pods)) pods.set(pod, w);
  const byName = new Map<string, WorkloadId[]>();
  for (const w of pods.values()) {
    const same = byName.get(w.name) ?? [];
    if (!same.some((s) => s.kind === w.kind)) byName.set(w.name, [...same, w]);
  }
  return (pod, workload) => {
    const known = pods.get(pod);
    if (known) return known;
    const named = workload ? byName.get(workload) : undefined;
    if (named?.length === 1) return named[0];
    return { kind: 'Pod', name: pod };
  };
}

const peersOf = (rules: PolicyRule[]) =>
  rules.flatMap((r) => (r.dns ? [] : r.peers.map((p) => JSON.stringify(p))));

/** The files and summary of every workload the evidence holds. Throws what the profile builder refuses. */
export function synthesize(input: SynthesisInput): Synthesis {
  const { namespace } = input;
  const workloadOf = resolver(input.evidence);
  const ids = new Map<string, WorkloadId>();
  const stemOf = (pod: string, workload?: string) => {
    const id = workloadOf(pod, workload);
    const stem = workloadStem(id);
    ids.set(stem, id);
    return stem;
  };
  // Records are renamed to their workload's stem, so the builders (which group by workload) merge
  // replicas, instances and recordings of one workload and keep two kinds of one name apart.
  const syscalls = input.evidence.flatMap((e) =>
    e.syscalls.map((r) => ({ ...r, workload: stemOf(r.pod, r.workload) })),
  );
  const privileges = input.evidence.flatMap((e) =>
    e.privileges.map((r) => ({ ...r, workload: stemOf(r.pod, r.workload) })),
  );
  const policies = new Map<string, WorkloadPolicy[]>();
  for (const p of input.policies) {
    const stem = workloadStem(p.workload);
    ids.set(stem, p.workload);
    policies.set(stem, [...(policies.get(stem) ?? []), p]);
  }

  const { built: profiles, refused } = buildProfiles(observationsOf(namespace, syscalls, input.runtime));
  const byStem = input.evidence.map((e) => ({
    ...e,
    pods: Object.fromEntries(Object.keys(e.pods).map((pod) => [pod, stemOf(pod)])),
  }));
  const profileBase = (stem: string, p: BuiltProfile, own: BuiltProfile[]) =>
    profileName(stem, own.length > 1 ? p.container : undefined);
  const notes: string[] = [];
  const unbuilt: string[] = [];
  const files: Synthesis['files'] = [];
  const rows: SummaryRow[] = [];
  for (const stem of [...ids.keys()].sort()) {
    const id = ids.get(stem) as WorkloadId;
    const mine: string[] = [];
    const add = (name: string, text: string) => {
      files.push({ name, text });
      mine.push(name);
    };
    const workload = `${id.kind.toLowerCase()}/${id.name}`;
    const coverage = coverageOf(byStem, stem);
    const lacks = new Set(coverage.notRecorded.map((n) => n.recorder));
    for (const n of coverage.notRecorded)
      notes.push(
        `warning: ${workload}: the ${n.recorder} recorder recorded none of its pods (${n.reason}): ${LACKS[n.recorder]}`,
      );
    for (const r of coverage.refusedPods)
      notes.push(
        `warning: ${workload}: the ${r.recorder} recorder did not record its pod ${r.pod} on node ${r.node} (${r.reason}): its ${r.recorder} files are from its other pods only`,
      );
    const own = profiles.filter((p) => p.workload === stem);
    for (const r of refused.filter((x) => x.workload === stem)) {
      notes.push(`warning: ${workload}: container ${r.container} has no seccomp profile: ${r.reason}`);
      unbuilt.push(`${workload} container ${r.container}`);
    }
    for (const p of own) {
      const base = profileBase(stem, p, own);
      add(`${base}.seccomp.json`, toJson(p.profile));
      add(`${base}.seccompprofile.yaml`, toYaml(toSeccompProfileCrd(base, namespace, p.profile)));
      notes.push(...p.notes.map((n) => `${stem}/${p.container}: ${n}`));
    }
    // Without the workload's own flows, a policy from its peers' side would deny what it did.
    const pols = lacks.has('network') ? [] : (policies.get(stem) ?? []);
    if (pols.length) {
      const render: (w: WorkloadPolicy) => NetworkPolicy | CiliumNetworkPolicy =
        input.netpolFormat === 'cilium' ? toCiliumPolicy : toNetworkPolicy;
      add(`${stem}.netpol.yaml`, toYamlDocuments(pols.flatMap((w) => splitToFit(w, render)).map(render)));
    }
    const localhost = new Map(
      own.map((p) => [p.container, localhostProfile(namespace, profileBase(stem, p, own))]),
    );
    const a = advise(
      namespace,
      privileges.filter((r) => r.workload === stem),
      input.specs,
      localhost,
    );
    if (a) add(`${stem}.securitycontext.yaml`, toYaml(recordedAdvice(id, a, namespace)));
    else if (localhost.size)
      add(
        `${stem}.securitycontext.yaml`,
        toYaml(profilesOnly(id, namespace, localhost, input.specs.get(stem), coverage.notRecorded)),
      );
    const recs = syscalls.filter((r) => r.workload === stem);
    rows.push({
      workload,
      kind: id.kind,
      name: id.name,
      startupRecorded: startupRecorded(recs),
      syscalls: syscallCount(own),
      peers: new Set(pols.flatMap((p) => [...peersOf(p.ingress), ...peersOf(p.egress)])).size,
      pss: a?.pss.level ?? (lacks.has('capabilities') ? NOT_RECORDED : '-'),
      gaps: gapCount(input.evidence, workloadOf, id, recs) + coverage.refusedPods.length,
      ...(coverage.notRecorded.length ? { notRecorded: coverage.notRecorded } : {}),
      files: mine,
    });
  }
  return { files, rows, notes, refused: unbuilt };
}

/** Where `apply` installs a workload's profile: kubelet's seccomp root, as `seccomp install` puts it. */
export const localhostProfile = (namespace: string, base: string): string =>
  `harden/${namespace}/${base}.json`;

/**
 * The workload's advice, each container with its own Localhost profile where one was recorded
 * (RuntimeDefault otherwise), so the one patch apply makes confines every container by its profile.
 */
function advise(
  namespace: string,
  records: PrivilegeRecord[],
  specs: Map<string, PodSpec | undefined>,
  profiles: Map<string, string>,
): WorkloadAdvice | undefined {
  if (!records.length) return undefined;
  const [a] = adviseSession(namespace, records, specs, { seccompProfile: [...profiles.values()][0] });
  for (const c of a.containers) {
    const path = profiles.get(c.name);
    c.securityContext.seccompProfile = path
      ? { type: 'Localhost', localhostProfile: path }
      : { type: 'RuntimeDefault' };
  }
  return a;
}

/** Each container of the workload was seen from its entrypoint's first instruction at least once. */
function startupRecorded(recs: SyscallRecord[]): boolean {
  if (!recs.length) return false;
  const containers = new Set(recs.map((r) => r.container));
  return [...containers].every((c) => recs.some((r) => r.container === c && r.recordedFromStart));
}

const syscallCount = (own: BuiltProfile[]) =>
  new Set(
    own.flatMap((p) => p.profile.syscalls.flatMap((s) => (s.action === 'SCMP_ACT_ALLOW' ? s.names : []))),
  ).size;

/** Gaps of the workload's own containers, and node-wide ones on a node that ran one of its pods. */
function gapCount(
  evidence: Evidence[],
  workloadOf: (pod: string, workload?: string) => WorkloadId,
  id: WorkloadId,
  recs: SyscallRecord[],
): number {
  const nodes = new Set(recs.map((r) => r.node));
  const same = (w: WorkloadId) => w.kind === id.kind && w.name === id.name;
  const keys = new Set<string>();
  for (const e of evidence)
    for (const g of e.gaps) {
      const mine = g.pod ? same(workloadOf(g.pod)) : nodes.has(g.node);
      if (mine) keys.add(JSON.stringify([e.id, g.node, g.pod, g.container, g.gap.from]));
    }
  return keys.size;
}

/** What the summary shows for a recorder that recorded none of a workload. */
export const NOT_RECORDED = 'not recorded';

/**
 * A workload with seccomp profiles but no privilege records (its recorder refused): the file sets
 * only each container's Localhost profile, so apply still puts the profiles in force, and says why.
 */
function profilesOnly(
  id: WorkloadId,
  namespace: string,
  localhost: Map<string, string>,
  spec: PodSpec | undefined,
  notRecorded: NotRecorded[],
) {
  const containers = [...localhost].map(([name, path]) => ({
    name,
    ...(containerOf(spec, name).init ? { init: true } : {}),
    securityContext: { seccompProfile: { type: 'Localhost' as const, localhostProfile: path } },
  }));
  const why = notRecorded.find((n) => n.recorder === 'capabilities');
  return {
    apiVersion: API_VERSION,
    kind: 'SecurityContextAdvice',
    metadata: { name: workloadStem(id), namespace },
    workload: { kind: id.kind, name: id.name },
    notRecorded: `its privileges were not recorded${why ? ` (${why.reason})` : ''}: only the seccomp profiles are set`,
    containers,
    ...(patchableKinds.includes(id.kind) ? { patch: strategicPatch(id.kind, { containers }) } : {}),
  };
}

/** The securityContext file: the advice with its evidence, and the patch apply puts on the template. */
function recordedAdvice(id: WorkloadId, a: WorkloadAdvice, namespace: string) {
  return {
    ...adviceDocument({ name: workloadStem(id), namespace }, { kind: id.kind, name: id.name }, a),
    ...(patchableKinds.includes(id.kind) ? { patch: strategicPatch(id.kind, a) } : {}),
  };
}
