/**
 * `kubectl harden record`: one recording of every selected workload of a namespace by every
 * recorder — a seccomp, a capabilities and a network session, created together (labelled
 * `harden.dev/record=<id>`), traced together and stopped together through the one session
 * lifecycle (lib/session/lifecycle.ts) — then, per workload, its seccomp profile, NetworkPolicy
 * and securityContext written into a directory that `apply` puts in force.
 *
 * Three sessions rather than one: a TraceSession has one spec.type, which the agents, the status
 * schema and RBAC all key on, and each node's agent already runs one combined bpftrace program for
 * every session it serves, so three sessions cost the node what one would.
 */
import { Readable } from 'node:stream';
import { privilegeRecordsOf } from '../agent/recorders/privileges/session';
import { syscallRecordsOf } from '../agent/recorders/syscalls/session';
import { HardenError, INTERRUPTED } from '../errors';
import type { Kube } from '../kube/client';
import { ownerOf, type KubeObject, type List, type Pod } from '../kube/objects';
import { inform } from '../kube/informer';
import { R, resourcePath } from '../kube/paths';
import { selectorMatches, selectorText, type LabelSelector } from '../labels';
import { report } from '../netpol/report';
import type { PodSpec } from '../securitycontext/types';
import { deleteSession, followSession, getSession, newSessionId, requireDeployed } from '../session/client';
import { describeGap, gapsOf, type GapReport } from '../session/gaps';
import {
  cannotTrace,
  finishSession,
  SessionRefused,
  startSession,
  type Finished,
} from '../session/lifecycle';
import { refusals } from '../session/phase';
import { resolveTargets } from '../session/targets';
import type { SessionType, TraceSession } from '../session/types';
import type { Deps, Io } from './context';
import { openFlowRecorder } from './flow-recorder';
import { renderTable, toJson, toYaml } from './output';
import type { RecorderRefusal } from './record-coverage';
import { evidenceFile, flowLogFile, readRecordDir, writeRecordDir, type RecordManifest } from './record-dir';
import {
  NOT_RECORDED,
  synthesize,
  workloadStem,
  type Evidence,
  type SummaryRow,
  type WorkloadId,
} from './record-result';
import {
  isRolloutKind,
  restartWorkload,
  ROLLOUT_RESOURCES,
  waitRollouts,
  type RolloutKind,
  type RolloutObject,
  type WorkloadRef,
} from './rollout';

/** The label every session of one recording carries. */
export const RECORD_LABEL = 'harden.dev/record';

/** The kinds of session a recording runs, one per recorder. */
const TYPES: SessionType[] = ['seccomp', 'capabilities', 'network'];

export interface RecordOptions {
  selector?: string;
  all?: boolean;
  restart: boolean;
  /** Stop one pod of each workload gracefully before the end, so its shutdown is recorded. */
  includeShutdown?: boolean;
  /** Stop after this long; undefined: at Ctrl-C. */
  durationMs?: number;
  outputDir: string;
  netpolFormat: 'kubernetes' | 'cilium';
  output: 'table' | 'json' | 'yaml';
  runtime: 'runc' | 'crun';
  acceptGaps: boolean;
  startTimeoutMs: number;
  flushTimeoutMs: number;
  rolloutTimeoutMs: number;
  /** How often the sessions and pods are read while recording. */
  pollMs?: number;
}

interface Selected {
  id: WorkloadId;
  /** Pods of it running now. */
  pods: string[];
  /** Its controller asks for no pods (replicas: 0). */
  scaledToZero?: boolean;
}

const label = (w: WorkloadId) => `${w.kind.toLowerCase()}/${w.name}`;

/**
 * The workloads the flags select: the owners of the selected pods, and the Deployments,
 * StatefulSets and DaemonSets whose pod template the selector matches (so one scaled to zero is
 * named rather than silently left out).
 */
async function selectWorkloads(
  kube: Kube,
  namespace: string,
  selector: LabelSelector | undefined,
  pods: Pod[],
): Promise<Selected[]> {
  const out = new Map<string, Selected>();
  const entry = (id: WorkloadId) => {
    const key = workloadStem(id);
    const e = out.get(key) ?? { id, pods: [] };
    out.set(key, e);
    return e;
  };
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp || ['Succeeded', 'Failed'].includes(pod.status?.phase ?? '')) continue;
    entry(ownerOf(pod) ?? { kind: 'Pod', name: pod.metadata.name }).pods.push(pod.metadata.name);
  }
  for (const kind of Object.keys(ROLLOUT_RESOURCES) as RolloutKind[]) {
    const list = await kube.get<
      List<RolloutObject & { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }>
    >(resourcePath(ROLLOUT_RESOURCES[kind], { namespace }));
    for (const o of list.items) {
      if (selector && !selectorMatches(selector, o.spec?.template?.metadata?.labels)) continue;
      const e = entry({ kind, name: o.metadata.name });
      if (kind !== 'DaemonSet' && o.spec?.replicas === 0) e.scaledToZero = true;
    }
  }
  return [...out.values()].sort((a, b) => workloadStem(a.id).localeCompare(workloadStem(b.id)));
}

/**
 * Each selected pod's workload, as the records name pods, and its node once scheduled: from a
 * list, then a watch until `signal` aborts, so a pod that comes and goes between polls (a surge
 * pod of a rollout) is seen too, and the namespace's pods are not listed again every second.
 */
async function watchPods(
  kube: Kube,
  namespace: string,
  query: Record<string, string> | undefined,
  seen: Pick<Evidence, 'pods'> & { nodes: Record<string, string> },
  signal: AbortSignal,
): Promise<void> {
  await inform<Pod>(
    kube,
    resourcePath(R.pods, { namespace }),
    query,
    (event, p) => {
      if (event === 'DELETED') return;
      seen.pods[p.metadata.name] = ownerOf(p) ?? { kind: 'Pod', name: p.metadata.name };
      if (p.spec?.nodeName) seen.nodes[p.metadata.name] = p.spec.nodeName;
    },
    signal,
  );
}

interface Templated extends KubeObject {
  spec?: { template?: { spec?: PodSpec } };
}

/** Each workload's pod spec as it is now (what the advice sets against), by stem. */
async function specsOf(kube: Kube, namespace: string, ids: WorkloadId[]) {
  const specs = new Map<string, PodSpec | undefined>();
  for (const id of ids) {
    if (isRolloutKind(id.kind)) {
      const o = await kube.getOptional<Templated>(
        resourcePath(ROLLOUT_RESOURCES[id.kind], { namespace, name: id.name }),
      );
      specs.set(workloadStem(id), o?.spec?.template?.spec);
    } else if (id.kind === 'Pod') {
      const p = await kube.getOptional<Pod>(resourcePath(R.pods, { namespace, name: id.name }));
      specs.set(workloadStem(id), p?.spec as PodSpec | undefined);
    }
  }
  return specs;
}

/**
 * Starts the three sessions together. A recorder no node can serve is left out, its refusals
 * kept, and the others record; any other failure (or all three refused) leaves none.
 */
async function startAll(
  kube: Kube,
  io: Io,
  namespace: string,
  recordId: string,
  target: TraceSession['spec']['target'],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ sessions: TraceSession[]; refused: RecorderRefusal[] }> {
  const started = await Promise.allSettled(
    TYPES.map((type) =>
      startSession(kube, io, {
        namespace,
        id: `${recordId}-${type}`,
        type,
        target,
        timeoutMs,
        signal,
        meta: { labels: { [RECORD_LABEL]: recordId } },
      }),
    ),
  );
  const sessions = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failures = started.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (!failures.length) return { sessions, refused: [] };
  const allRefused = failures.every((e) => e instanceof SessionRefused);
  if (sessions.length && !signal.aborted && allRefused) {
    const refused = started.flatMap((s, i) =>
      s.status === 'rejected'
        ? (s.reason as SessionRefused).refusals.map((r) => ({ ...r, recorder: TYPES[i], everywhere: true }))
        : [],
    );
    for (const [i, s] of started.entries())
      if (s.status === 'rejected')
        io.err(
          `warning: no node can record ${TYPES[i]} sessions, so the recording goes on without them: ${(s.reason as Error).message}`,
        );
    return { sessions, refused };
  }
  for (const type of TYPES)
    await deleteSession(kube, namespace, `${recordId}-${type}`).catch(() => undefined);
  if (signal.aborted)
    throw new HardenError(
      `interrupted; recording ${recordId}'s sessions were removed`,
      undefined,
      INTERRUPTED,
    );
  if (allRefused)
    throw new HardenError(
      `no recorder can trace recording ${recordId}: ${failures.map((e) => (e as Error).message).join('; ')}`,
      (failures[0] as SessionRefused).hint,
    );
  throw failures.find((e) => !(e instanceof SessionRefused));
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal.removeEventListener('abort', done), resolve()), ms);
    signal.addEventListener('abort', done, { once: true });
  });

export async function runRecord(opts: RecordOptions, { kube, io, interrupt }: Deps): Promise<void> {
  const namespace = kube.namespace;
  const dir = await readRecordDir(opts.outputDir);
  if (dir.manifest && dir.manifest.namespace !== namespace)
    throw new HardenError(
      `${opts.outputDir} holds a recording of namespace "${dir.manifest.namespace}", not "${namespace}"`,
      'Record each namespace into its own directory.',
    );
  await requireDeployed(kube);
  const { target, pods } = await resolveTargets(kube, namespace, { selector: opts.selector, all: opts.all });
  const selector = target.selector;
  const query = selector ? { labelSelector: selectorText(selector) } : undefined;
  const workloads = await selectWorkloads(kube, namespace, selector, pods);
  const what = selector ? `selector ${selectorText(selector)}` : 'all pods';
  const live = workloads.filter((w) => w.pods.length);
  if (!live.length) {
    const zero = workloads.filter((w) => w.scaledToZero).map((w) => label(w.id));
    throw new HardenError(
      `nothing to record in namespace "${namespace}" (${what}; context "${kube.ctx.context}"): ` +
        (zero.length
          ? `${zero.join(', ')} ${zero.length > 1 ? 'are' : 'is'} scaled to zero and no pod runs`
          : 'no pod or workload is selected'),
      zero.length
        ? `Scale them up first, e.g. kubectl scale ${zero[0]} -n ${namespace} --replicas=1`
        : `List pods with: kubectl get pods -n ${namespace} --show-labels`,
    );
  }
  for (const w of workloads.filter((x) => x.scaledToZero))
    io.err(`warning: ${label(w.id)} is scaled to zero: nothing of it is recorded`);

  const recordId = newSessionId('rec');
  const flowLines: string[] = [];
  const flows = await openFlowRecorder(kube, io, namespace, (line) => void flowLines.push(line));
  const startTime = new Date().toISOString();
  const seen = { pods: {} as Record<string, WorkloadId>, nodes: {} as Record<string, string> };
  const sessions: TraceSession[] = [];
  const refused: RecorderRefusal[] = [];
  let endTime = startTime;
  let finished: Finished[] = [];
  try {
    const startup = interrupt();
    try {
      const all = await startAll(kube, io, namespace, recordId, target, opts.startTimeoutMs, startup.signal);
      sessions.push(...all.sessions);
      refused.push(...all.refused);
    } finally {
      startup.dispose();
    }
    io.err(
      `recording ${what} in namespace "${namespace}": ${recordId} (sessions ${sessions.map((s) => s.metadata.name).join(', ')})` +
        `${opts.durationMs ? ` for ${opts.durationMs / 1000}s` : ''}; Ctrl-C ends it`,
    );
    const network = sessions.find((s) => s.spec.type === 'network');

    const recording = interrupt();
    const ended = new AbortController();
    const watchingPods = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    recording.signal.addEventListener('abort', () => ended.abort(), { once: true });
    try {
      await watchPods(kube, namespace, query, seen, watchingPods.signal);
      if (opts.restart) await restart(kube, io, namespace, live, opts.rolloutTimeoutMs, ended.signal);
      // --duration counts from when every pod runs as it will be recorded: after the rollouts.
      if (opts.durationMs) timer = setTimeout(() => ended.abort(), opts.durationMs);
      // The network session's records are read as they change (a watch), not all on every poll.
      const followed = network && (await followSession(kube, namespace, network.metadata.name, 'network'));
      try {
        while (!ended.signal.aborted) {
          if (followed) await flows.record(await followed.read());
          io.progress(`recording: ${flows.flows} flows · ${Object.keys(seen.pods).length} pods seen`);
          await sleep(opts.pollMs ?? 1000, ended.signal);
        }
      } finally {
        if (followed) followed.close();
      }
    } finally {
      watchingPods.abort();
      if (timer) clearTimeout(timer);
      recording.dispose();
      io.done();
    }
    // --restart stopped the old pods while traced already; otherwise one pod per workload now.
    if (opts.includeShutdown && !opts.restart)
      await includeShutdowns(
        { kube, io, interrupt },
        namespace,
        sessions.find((s) => s.spec.type === 'seccomp') ?? sessions[0],
      );
    endTime = new Date().toISOString();

    // Stop together and wait for every node's final flush; a fresh interrupt, so Ctrl-C here is not lost.
    const flushing = interrupt();
    try {
      finished = await Promise.all(
        sessions.map(async (s) =>
          finishSession(kube, io, await getSession(kube, namespace, s.metadata.name, s.spec.type), {
            timeoutMs: opts.flushTimeoutMs,
            signal: flushing.signal,
          }),
        ),
      );
    } finally {
      flushing.dispose();
    }
    if (finished.some((f) => f.interrupted))
      throw new HardenError(
        `interrupted while waiting for the agents' final flush; recording ${recordId} is removed and nothing was written`,
        undefined,
        INTERRUPTED,
      );
    const pending = [...new Set(finished.flatMap((f) => f.pending))];
    if (pending.length)
      throw new HardenError(
        `no final flush from ${pending.join(', ')} within ${opts.flushTimeoutMs / 1000}s (context "${kube.ctx.context}"): ` +
          `their last interval would be missing, so nothing was written`,
        'Check the agents with kubectl harden status, then record again.',
      );
    const networkFinished = finished.find((f) => f.session.spec.type === 'network');
    if (networkFinished) await flows.record(networkFinished.session);
  } finally {
    flows.close();
    for (const type of TYPES)
      await deleteSession(kube, namespace, `${recordId}-${type}`).catch(() => undefined);
  }

  const recordsOf = <T>(type: SessionType, read: (s: TraceSession) => T[]) => {
    const f = finished.find((x) => x.session.spec.type === type);
    return f ? read(f.session) : [];
  };
  // Nodes that refused a recorder, or whose bpftrace could not run, while others served it: their
  // pods have nothing of its kind.
  for (const f of finished)
    for (const r of [...refusals(f.session), ...cannotTrace(f.session)])
      if (r.node) refused.push({ ...r, recorder: f.session.spec.type });
  const gaps = dedupeGaps(finished.flatMap((f) => gapsOf(f.session)));
  for (const g of gaps)
    io.err(`warning: ${describeGap(g, { records: 'what the workloads did', result: 'the files' })}`);
  for (const node of flows.truncated)
    io.err(
      `warning: node ${node}'s agent dropped flows beyond its bound: the NetworkPolicies would deny connections first made after it`,
    );
  const evidence: Evidence = {
    id: recordId,
    startTime,
    endTime,
    restarted: opts.restart,
    pods: seen.pods,
    nodes: seen.nodes,
    syscalls: recordsOf('seccomp', syscallRecordsOf),
    privileges: recordsOf('capabilities', privilegeRecordsOf),
    gaps,
    ...(refused.length ? { refused } : {}),
  };
  const flowLog = flowLines.join('');
  const allEvidence = [...dir.evidence, evidence];
  const netpol = await report(Readable.from([...dir.flowLogs, flowLog].join('')), { skipInvalid: false });
  const ids = new Map<string, WorkloadId>();
  for (const e of allEvidence) for (const id of Object.values(e.pods)) ids.set(workloadStem(id), id);
  let synthesis;
  try {
    synthesis = synthesize({
      namespace,
      evidence: allEvidence,
      specs: await specsOf(kube, namespace, [...ids.values()]),
      policies: netpol.workloads,
      netpolFormat: opts.netpolFormat,
      runtime: opts.runtime,
    });
  } catch (e) {
    throw new HardenError(
      `cannot build the recording's files: ${(e as Error).message}`,
      'Nothing was written.',
    );
  }
  for (const n of [...synthesis.notes, ...netpol.notes.map((n) => `note: ${n}`)]) io.err(n);
  const recordings = [
    ...(dir.manifest?.recordings ?? []),
    { id: recordId, startTime, endTime, restarted: opts.restart },
  ];
  const manifest: Omit<RecordManifest, 'files'> = {
    apiVersion: 'harden.dev/v1alpha1',
    kind: 'Recording',
    namespace,
    context: kube.ctx.context,
    cluster: kube.ctx.cluster,
    selector: selector ? selectorText(selector) : '--all',
    netpolFormat: opts.netpolFormat,
    recordings,
    workloads: synthesis.rows,
  };
  await writeRecordDir(
    dir,
    [
      ...synthesis.files,
      ...dir.kept,
      { name: evidenceFile(recordId), text: JSON.stringify(evidence, null, 2) + '\n' },
      { name: flowLogFile(recordId), text: flowLog },
    ],
    manifest,
  );
  const late = synthesis.rows
    .filter((r) => !r.startupRecorded && !lacks(r, 'seccomp'))
    .map((r) => r.workload);
  if (late.length)
    io.err(
      `warning: the start-up of ${late.join(', ')} was not recorded (already running when tracing began): ` +
        'what they do only when starting is not in their files; record again with --restart',
    );
  io.out(summary(synthesis.rows, opts.output));
  io.err(
    `wrote ${synthesis.files.length} files into ${opts.outputDir}; put them in force with: kubectl harden apply -f ${opts.outputDir}`,
  );
  if (synthesis.refused.length)
    throw new HardenError(
      `no seccomp profile for ${synthesis.refused.join(', ')} (why: above); every other file was written`,
      `Their records are kept in ${opts.outputDir}/${evidenceFile(recordId)}. Take the files as they are, ` +
        'or record again into the same directory once the cause is fixed (it merges).',
    );
  const gapped = synthesis.rows.filter((r) => r.gaps);
  if (gapped.length && !opts.acceptGaps)
    throw new HardenError(
      `${gapped.map((r) => r.workload).join(', ')} ${gapped.length > 1 ? 'were' : 'was'} not traced throughout (gaps listed above): ` +
        'what they did then is not in their files, which would deny it',
      'Record again into the same directory (it merges), or take the files as they are with --accept-gaps.',
    );
}

/** One gap per node, container and start, as several sessions on one node each report it. */
function dedupeGaps(gaps: GapReport[]): GapReport[] {
  const seen = new Map<string, GapReport>();
  for (const g of gaps) seen.set(JSON.stringify([g.node, g.pod, g.container, g.gap.from]), g);
  return [...seen.values()];
}

/**
 * `--restart`: rolls out every selected Deployment, StatefulSet and DaemonSet (kubectl rollout
 * restart) now that tracing is armed, and waits for each; bare pods and other owners are named as
 * not restartable. Ctrl-C ends the wait (the recording then stops as at --duration).
 */
async function restart(
  kube: Kube,
  io: Io,
  namespace: string,
  live: Selected[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const restartable = live.map((w) => w.id).filter((id): id is WorkloadRef => isRolloutKind(id.kind));
  for (const w of live.filter((x) => !isRolloutKind(x.id.kind)))
    io.err(
      `warning: ${label(w.id)} is not restartable (not a Deployment, StatefulSet or DaemonSet): its start-up is not recorded`,
    );
  for (const w of restartable) {
    io.err(`restarting ${label(w)}`);
    await restartWorkload(kube, namespace, w);
  }
  try {
    await waitRollouts(kube, namespace, restartable, { timeoutMs, signal, progress: io });
  } catch (e) {
    if (signal.aborted) return;
    throw e;
  }
  if (restartable.length)
    io.err(
      `rolled out: ${restartable.map(label).join(', ')}; their pods started under trace, exercise them now`,
    );
}

/** The summary stdout shows: workload × start-up recorded, syscalls, peers, PSS level, gaps. */
function summary(rows: SummaryRow[], format: RecordOptions['output']): string {
  if (format !== 'table') {
    const items = rows.map(({ files: _files, kind: _kind, name: _name, ...r }) => r);
    return format === 'json' ? toJson(items) : toYaml(items);
  }
  return renderTable(
    ['workload', 'start-up recorded', 'syscalls', 'peers', 'pss', 'gaps'],
    rows.map((r) => [
      r.workload,
      lacks(r, 'seccomp') ? NOT_RECORDED : r.startupRecorded ? 'yes' : 'no',
      lacks(r, 'seccomp') ? NOT_RECORDED : r.syscalls,
      lacks(r, 'network') ? NOT_RECORDED : r.peers,
      r.pss,
      r.gaps,
    ]),
  );
}

const lacks = (r: SummaryRow, recorder: SessionType) =>
  Boolean(r.notRecorded?.some((n) => n.recorder === recorder));

/**
 * record --include-shutdown: one pod of each workload ends gracefully while every recorder still
 * traces (the sessions share the target, so the seccomp one, or any left, stands for all). Ctrl-C
 * here ends only this part: the recording then stops and is written as it is.
 */
async function includeShutdowns(
  { kube, io, interrupt }: Pick<Deps, 'kube' | 'io' | 'interrupt'>,
  namespace: string,
  started: TraceSession,
): Promise<void> {
  const { recordShutdowns } = await import('../session/shutdown');
  const ending = interrupt();
  try {
    const session = await getSession(kube, namespace, started.metadata.name, started.spec.type);
    await recordShutdowns(kube, io, session, {
      signal: ending.signal,
      resume: `kubectl harden record -n ${namespace} … --include-shutdown`,
    });
  } catch (e) {
    if (!ending.signal.aborted) throw e;
    io.err("interrupted: not every workload's shutdown was recorded; the recording ends now");
  } finally {
    ending.dispose();
    io.done();
  }
}
