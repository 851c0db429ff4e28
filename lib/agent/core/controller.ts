/**
 * The agent's session controller: watches TraceSessions (all namespaces) and the pods of its own
 * node, keeps one bpftrace program tracing the targets of every running session it serves (planned
 * by ./plan, assembled by ./assemble from the recorders' parts), hands each recorder's output to
 * that recorder's sessions (one attribution path for all: a cgroup names its pod), and writes what
 * they recorded through ./status-writer. It knows the kinds of session only through ./recorder.
 */
import { existsSync } from 'node:fs';
import { ApiError, type Kube } from '../../kube/client';
import { inform } from '../../kube/informer';
import { allContainerStatuses, ownerOf, type Pod } from '../../kube/objects';
import { R, resourcePath } from '../../kube/paths';
import { transition, type ConditionUpdate } from '../../session/conditions';
import { withGap } from '../../session/gaps';
import type {
  Condition,
  ContainerIdentity,
  Gap,
  NodeRecord,
  SessionPhase,
  SessionType,
  TraceSession,
} from '../../session/types';
import { VERSION } from '../../version';
import { assembleProgram } from './assemble';
import type { BpftraceError } from './bpftrace-error';
import { cgroupIdOf, containerIdOfPath, parseContainerID, podUIDOfPath, type CgroupLayout } from './cgroups';
import { DIALECTS, type BpftraceProbe } from './dialect';
import type { KernelFacts } from './kernel';
import { OutputReader, type TraceEvent } from './output';
import {
  concernsNode,
  coversPod,
  planTargets,
  sessionSeeds,
  targetPodsOf,
  tracesSession,
  type CgroupState,
} from './plan';
import type { ProgramTargets } from './program';
import type { Attributed, ContainerInfo, Recorder, SessionRecorder } from './recorder';
import { ContainerRecords, sessionKey } from './records';
import { prune, type GonePod } from './retention';
import { canonicalJson } from './status-memo';
import { StatusWriter, type UnstampedRecord } from './status-writer';
import { chooseRoutes, type Support } from './support';
import { Tracer, type TraceGap, type TracerHooks, type TracerLike } from './tracer';

/**
 * How long a stop waits for bpftrace to print what it held, in intervals: two prints are due in
 * two, and on a loaded node they may lag a few more behind.
 */
const FINAL_WAIT_INTERVALS = 5;

export interface ControllerOptions {
  node: string;
  arch: string;
  /** The node's bpftrace: its version and program dialect, or why it cannot be used. */
  bpftrace: BpftraceProbe;
  /** Every kind of session the agent knows (the registry, in its order). */
  recorders: readonly Recorder[];
  /** The node's kernel, as probed at the agent's start: which recorders' routes it serves. */
  kernel: KernelFacts;
  layout: CgroupLayout;
  flushMs: number;
  /** bpftrace's print interval: how stale the newest sets may be. */
  intervalMs: number;
  log: (msg: string) => void;
  /** Why this process cannot load tracing programs (missing capabilities), told with every bpftrace failure. */
  privilegeProblem?: string;
  /** Makes the tracer that runs bpftrace for the controller's hooks (tests pass one that does not). */
  tracer?: (hooks: TracerHooks) => TracerLike;
}

/** Why this node (or every node alike) does not trace a session. */
interface Refusal {
  /** Session-wide: every node decides alike, so it is no node's entry but the session's condition. */
  sessionWide: boolean;
  reason: string;
  message: string;
}

interface Tracked {
  session: TraceSession;
  /** Its recorder and the session's records of that kind; absent when this node does not serve it. */
  recording?: { recorder: Recorder; records: SessionRecorder<Attributed> };
  /** When this agent began tracing it (ms): cgroups armed earlier were not seen from their start by it. */
  since: number;
  /** The spec last acted on: events that change only the status (our own writes) are not acted on. */
  spec: string;
  /** Which target containers were traced, how completely. */
  containers: ContainerRecords;
  /** Stop seen: 'draining' until the programs printed what they held then; 'due' after (the final flush). */
  finishing?: 'draining' | 'due';
  final: boolean;
  /** This node's phase as last written. */
  phaseWritten?: SessionPhase;
  /** This node's conditions as last written: their transition times carry over. */
  conditions?: Condition[];
  refused?: Refusal;
  /** Intervals in which this node traced nothing (open sessions: pods that ran only then are missing). */
  nodeGaps: Gap[];
  /** The previous agent's last write, when this agent took the session over: a gap until traced again. */
  resumeFrom?: string;
  /**
   * Since when it has been recording on this node (ms; 0: since before this agent). Before that its
   * client was still waiting for Tracing, so an untraced interval then is no gap of the session's.
   */
  tracedFrom?: number;
}

export class Controller {
  private readonly pods = new Map<string, Pod>();
  private readonly sessions = new Map<string, Tracked>();
  private readonly cgroups = new Map<string, CgroupState>();
  private readonly identities = new Map<string, ContainerIdentity>();
  private readonly gone = new Map<string, GonePod>();
  private readonly tracer: TracerLike;
  private readonly writer: StatusWriter;
  /** Per kind of session: the route this node serves it by, or why it cannot. */
  readonly support: ReadonlyMap<SessionType, Support>;
  private readonly abort = new AbortController();
  private flushTimer?: NodeJS.Timeout;
  private health: BpftraceError | undefined;
  private flushing = false;
  private closing = false;
  /** This node's records written before the agent (re)started, by session uid: taken up once each. */
  private previous = new Map<string, NodeRecord>();

  constructor(
    private readonly kube: Kube,
    private readonly opts: ControllerOptions,
  ) {
    const { node, arch, bpftrace, recorders } = opts;
    // Without a usable bpftrace nothing is traced (see targets()); the routes are still chosen, for `status`.
    const dialect = bpftrace.dialect ?? DIALECTS[DIALECTS.length - 1];
    this.support = chooseRoutes(recorders, opts.kernel, { node, arch, dialect });
    const served = [...this.support.values()].flatMap((s) => (s.route ? [s] : []));
    const reader = new OutputReader(recorders);
    const tracer =
      opts.tracer ??
      ((hooks) =>
        new Tracer(hooks, {
          binary: bpftrace.binary,
          intervalMs: opts.intervalMs,
          parse: (l) => reader.parse(l),
        }));
    this.writer = new StatusWriter(kube, node);
    this.tracer = tracer({
      targets: () => this.targets(),
      // Read as the program starts: every cgroup made from here on is newer (ProgramTargets.newerThan).
      program: (t) =>
        assembleProgram(
          { ...t, newerThan: opts.layout.newestPodCgroupId() },
          { intervalMs: opts.intervalMs, dialect, arch, routes: served },
        ),
      onEvent: (e) => this.onEvent(e),
      onHealth: (e) => {
        this.health = e;
        if (e && this.tracer.untracedSince) this.gapOpened();
        void this.flush();
      },
      onAttached: () => {
        this.closeResumeGaps();
        // Tell waiting `start` commands as soon as a program is in service.
        void this.flush();
      },
      onGap: (g) => this.onGap(g),
      onSwitch: () => void this.flush(),
      running: (cgroup) => {
        const c = this.cgroups.get(cgroup);
        return c !== undefined && c.goneAt === undefined;
      },
      log: opts.log,
    });
    // An unusable bpftrace is never started; every session's condition says why.
    this.health = bpftrace.problem;
  }

  async start(): Promise<void> {
    const { signal } = this.abort;
    const podQuery = { fieldSelector: `spec.nodeName=${this.opts.node}` };
    await inform<Pod>(
      this.kube,
      resourcePath(R.pods),
      podQuery,
      (t, p) => this.onPod(t, p),
      signal,
      (e) => this.opts.log(`pod watch: ${e.message}`),
    );
    this.previous = await this.writer.previous().catch((e: Error) => {
      this.opts.log(`reading this node's earlier records: ${e.message}; sessions are taken up afresh`);
      return new Map<string, NodeRecord>();
    });
    await inform<TraceSession>(
      this.kube,
      resourcePath(R.tracesessions),
      undefined,
      (t, s) => this.onSession(t, s),
      signal,
      (e) => this.opts.log(`session watch: ${e.message}`),
    );
    await this.tracer.reconcile();
    this.flushTimer = setInterval(() => void this.tick(), Math.min(this.opts.flushMs, 500));
  }

  /** What the agent remembers, for logs and tests: bounded by what runs, not by what ran. */
  get memory(): { pods: number; gonePods: number; cgroups: number; identities: number; programs: number } {
    return {
      pods: this.pods.size,
      gonePods: this.gone.size,
      cgroups: this.cgroups.size,
      identities: this.identities.size,
      programs: this.tracer.runningCount,
    };
  }

  async close(): Promise<void> {
    this.abort.abort();
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.tracer.close();
    // Written as a change, so the last write's time is when tracing ended here.
    this.closing = true;
    await this.flush();
  }

  // --- the world, as watched ---------------------------------------------------------------------

  private onPod(type: string, pod: Pod): void {
    const uid = pod.metadata.uid ?? '';
    if (type === 'DELETED') {
      this.pods.delete(uid);
      // Its containers may still run, and the program prints their last sets later: kept (see prune).
      this.gone.set(uid, { pod, at: Date.now() });
    } else this.pods.set(uid, pod);
    this.learnIdentities(pod);
    void this.tracer.reconcile();
  }

  private onSession(type: string, s: TraceSession): void {
    const key = sessionKey(s);
    if (type === 'DELETED') {
      this.sessions.delete(key);
      this.writer.forget(s);
      void this.tracer.reconcile();
      return;
    }
    let t = this.sessions.get(key);
    const spec = canonicalJson(s.spec);
    if (t && t.spec === spec) {
      // A status write (ours echoing back, or another node's): nothing to do.
      t.session = s;
      return;
    }
    if (!t) {
      t = this.track(s);
      this.sessions.set(key, t);
    }
    t.session = s;
    t.spec = spec;
    if (s.spec.state === 'Stopped' && !t.final && t.finishing === undefined) this.finish(t);
    void this.tracer.reconcile();
    void this.flush();
  }

  /** After a stop: the final flush once the programs printed what they traced until the stop. */
  private finish(t: Tracked): void {
    const waitMs = FINAL_WAIT_INTERVALS * this.opts.intervalMs;
    t.finishing = 'draining';
    void this.tracer.drained(waitMs).then((drained) => {
      if (!drained)
        this.opts.log(
          `session ${sessionKey(t.session)}: bpftrace printed nothing for ${waitMs} ms after the stop; its last interval may be missing`,
        );
      t.finishing = 'due';
      void this.flush();
    });
  }

  /** A session seen for the first time, taking up what this node's record held (an agent restart). */
  private track(s: TraceSession): Tracked {
    const uid = s.metadata.uid ?? '';
    // An agent of an earlier release wrote its entry into the session's status.
    const mine = this.previous.get(uid) ?? s.status?.nodes?.find((n) => n.node === this.opts.node);
    this.previous.delete(uid);
    // An entry that refused the session holds nothing: this agent (maybe on another kernel) decides anew.
    const previous = mine?.phase === 'Failed' ? undefined : mine;
    const t: Tracked = {
      session: s,
      since: Date.now(),
      spec: '',
      containers: new ContainerRecords(previous),
      conditions: mine?.conditions,
      final: previous?.final ?? false,
      phaseWritten: mine?.phase,
      nodeGaps: previous?.gaps ?? [],
      // An earlier agent was tracing this session here: from its last write until this agent
      // traces again, nothing was.
      resumeFrom: previous && !previous.final ? previous.lastFlush : undefined,
      tracedFrom: previous?.phase === 'Tracing' ? 0 : undefined,
    };
    t.refused = this.refusal(s);
    const support = this.support.get(s.spec.type);
    if (!t.refused && support?.route) {
      const key = sessionKey(s);
      const records = support.recorder.record(
        {
          session: s,
          arch: this.opts.arch,
          podOfCgroup: (cgroup) => {
            const pod = this.podOf(this.cgroups.get(cgroup)?.podUID);
            return pod && coversPod(t.session, pod) ? pod : undefined;
          },
          targetPods: () => targetPodsOf(t.session, this.pods.values()),
          log: (msg) => this.opts.log(`session ${key}: ${msg}`),
        },
        previous,
      );
      t.recording = { recorder: support.recorder, records };
    }
    return t;
  }

  private refusal(s: TraceSession): Refusal | undefined {
    const ns = s.spec.target.namespace;
    if (ns && ns !== s.metadata.namespace) {
      return {
        sessionWide: true,
        reason: 'TargetOutsideNamespace',
        message: `target namespace "${ns}" is not the session's namespace "${s.metadata.namespace}": a session may only trace pods in its own namespace`,
      };
    }
    const support = this.support.get(s.spec.type);
    if (!support) {
      return {
        sessionWide: false,
        reason: 'UnsupportedKind',
        message: `the agent on node "${this.opts.node}" (version ${VERSION}) does not record ${s.spec.type} sessions: deploy the agent of the plugin's release`,
      };
    }
    return support.route
      ? undefined
      : { sessionWide: false, reason: support.reason, message: support.message };
  }

  /** A pod by UID, whether it still exists or was deleted while its cgroups may still print. */
  private podOf(uid: string | undefined): Pod | undefined {
    return uid ? (this.pods.get(uid) ?? this.gone.get(uid)?.pod) : undefined;
  }

  /** Container IDs → names, remembered so a deleted pod's records keep their names. */
  private learnIdentities(pod: Pod): void {
    for (const cs of allContainerStatuses(pod)) {
      const parsed = cs.containerID ? parseContainerID(cs.containerID) : undefined;
      if (!parsed) continue;
      this.identities.set(parsed.id, {
        pod: pod.metadata.name,
        podUID: pod.metadata.uid ?? '',
        workload: ownerOf(pod)?.name ?? pod.metadata.name,
        container: cs.name,
        containerID: cs.containerID ?? '',
      });
    }
  }

  // --- what to trace -----------------------------------------------------------------------------

  private active(t: Tracked): boolean {
    return !t.refused && !t.final;
  }

  private traced(t: Tracked): boolean {
    if (!t.recording) return false;
    const { attachedTargets } = this.tracer;
    return (
      tracesSession(attachedTargets, t.session, t.recording.recorder, this.pods.values(), this.opts.layout) &&
      !this.tracer.untraced(sessionSeeds(t.session, this.pods.values(), this.cgroups)).length
    );
  }

  /** The plan for the sessions traced now; containers it found running are remembered as such. */
  private targets(): ProgramTargets {
    if (!this.opts.bpftrace.dialect) return { seeds: [], podPrefixes: [] };
    const { targets, discovered } = planTargets({
      sessions: [...this.sessions.values()].filter((t) => this.active(t)).map((t) => t.session),
      recorders: this.opts.recorders.filter((r) => this.support.get(r.type)?.route),
      pods: this.pods,
      gonePods: new Map([...this.gone].map(([uid, g]) => [uid, g.pod])),
      cgroups: this.cgroups,
      layout: this.opts.layout,
      cgroupIdOf,
    });
    for (const [id, c] of discovered) this.cgroups.set(id, { ...c, seenAt: Date.now() });
    return targets;
  }

  private onEvent(e: TraceEvent): void {
    switch (e.kind) {
      case 'armed':
        this.opts.log(`armed cgroup ${e.cgroup}: ${e.path}`);
        this.cgroups.set(e.cgroup, {
          podUID: podUIDOfPath(e.path),
          containerID: containerIdOfPath(e.path),
          fromStart: true,
          filterSeen: false,
          recording: false,
          dir: this.opts.layout.dirOfHierarchyPath(e.path),
          seenAt: Date.now(),
        });
        return;
      case 'exec':
      case 'filter': {
        const c = this.cgroups.get(e.cgroup);
        this.opts.log(`${e.kind} seen in cgroup ${e.cgroup}`);
        if (c) {
          c.recording = true;
          if (e.kind === 'filter') c.filterSeen = true;
        }
        return;
      }
      case 'full':
      case 'lost':
        this.dataDropped(e.kind === 'full' ? 'MapFull' : 'EventsLost');
        return;
      case 'recorded':
        this.deliver(e.recorder, e.events);
        return;
      default:
        return;
    }
  }

  /**
   * A recorder's events, to its own running sessions: each event of a cgroup only to the sessions
   * whose target its pod is (a pod deleted meanwhile still counts: its containers' last prints come
   * after its DELETED). A pod whose watch event has not come yet (bpftrace prints faster than the
   * API server tells, on a loaded node) may be an open session's target: settle decides.
   */
  private deliver(type: SessionType, events: Attributed[]): void {
    if (!events.length) return;
    for (const t of this.sessions.values()) {
      if (!t.recording || !this.active(t) || t.session.spec.type !== type) continue;
      const verdict = new Map<string, boolean>();
      const mayBeTarget = (cgroup: string) => {
        let v = verdict.get(cgroup);
        if (v === undefined) {
          const pod = this.podOf(this.cgroups.get(cgroup)?.podUID);
          v = pod ? coversPod(t.session, pod) : !t.session.spec.target.podName;
          verdict.set(cgroup, v);
        }
        return v;
      };
      const mine = events.filter((e) => e.cgroup === undefined || mayBeTarget(e.cgroup));
      if (mine.length) t.recording.records.add(mine);
    }
  }

  // --- gaps: intervals in which targets were not traced ------------------------------------------

  /** Cgroups that existed when tracing stopped: the gap is theirs too, even if they end during it. */
  private aliveAtGap?: Set<string>;

  /** bpftrace died with nothing else in service. */
  private gapOpened(): void {
    if (this.aliveAtGap) return;
    this.aliveAtGap = new Set(
      [...this.cgroups].filter(([, c]) => !c.dir || existsSync(c.dir)).map(([id]) => id),
    );
    for (const c of this.cgroups.values()) {
      // Armed, waiting for its entrypoint's exec, which may come before the next program attaches:
      // record it from then on, its start counted as missed.
      if (!c.recording) {
        c.recording = true;
        c.fromStart = false;
      }
    }
  }

  private lastDropped: Partial<Record<'MapFull' | 'EventsLost', number>> = {};

  /**
   * The program dropped data of cgroups unknown (a full map, or lost output): every recording one
   * may miss what it did from the last interval (and the print's lag) on. bpftrace may say so once
   * per refused update: one gap per interval is enough.
   */
  private dataDropped(reason: 'MapFull' | 'EventsLost'): void {
    const now = Date.now();
    if (now - (this.lastDropped[reason] ?? 0) < this.opts.intervalMs) return;
    this.lastDropped[reason] = now;
    this.onGap({
      from: new Date(now - 2 * this.opts.intervalMs),
      to: new Date(now),
      reason,
      cgroups: [...this.cgroups].filter(([, c]) => c.recording).map(([id]) => id),
    });
  }

  private onGap(g: TraceGap): void {
    const gap: Gap = { from: g.from.toISOString(), to: g.to.toISOString(), reason: g.reason };
    const from = g.from.getTime();
    const alive = this.aliveAtGap;
    this.aliveAtGap = undefined;
    const cgroups =
      g.cgroups ??
      [...this.cgroups].filter(([id, c]) => alive?.has(id) || (c.seenAt ?? 0) >= from).map(([id]) => id);
    this.opts.log(`not traced from ${gap.from} to ${gap.to} (${gap.reason}): ${cgroups.length} cgroups`);
    for (const t of this.sessions.values()) {
      if (this.active(t)) this.addGap(t, gap, cgroups, !g.cgroups);
    }
    void this.flush();
  }

  /** A gap for a session: on the target containers among `cgroups`, and on the node when it was all of it. */
  private addGap(t: Tracked, untraced: Gap, cgroups: Iterable<string>, nodeWide: boolean): void {
    const gap = sinceTraced(t, untraced);
    if (!gap) return;
    for (const id of cgroups) {
      const uid = this.cgroups.get(id)?.podUID;
      const pod = uid ? this.pods.get(uid) : undefined;
      if (pod && coversPod(t.session, pod)) t.containers.addGap(id, gap);
    }
    if (nodeWide && !t.session.spec.target.podName) t.nodeGaps = withGap(t.nodeGaps, gap);
  }

  /**
   * Ending while not traced (bpftrace down, or never up since a restart; cgroups a program switch
   * has not covered yet): the gap ends with it, since its report would come after the final write.
   */
  private closeOpenGaps(t: Tracked, to: string): void {
    const untraced = this.tracer.untracedSince;
    if (untraced) {
      const gap: Gap = { from: untraced.toISOString(), to, reason: 'BpftraceExited' };
      this.addGap(t, gap, this.aliveAtGap ?? this.cgroups.keys(), true);
    }
    for (const [id, from] of this.tracer.untracedCgroups) {
      this.addGap(t, { from: from.toISOString(), to, reason: 'ProgramSwitch' }, [id], false);
    }
    this.closeResumeGap(t, to);
  }

  /** Sessions taken over from an earlier agent: untraced from its last write until now. */
  private closeResumeGaps(): void {
    const to = new Date().toISOString();
    for (const t of this.sessions.values()) {
      if (t.resumeFrom && this.active(t) && this.traced(t)) this.closeResumeGap(t, to);
    }
  }

  private closeResumeGap(t: Tracked, to: string): void {
    if (!t.resumeFrom) return;
    const gap: Gap = { from: t.resumeFrom, to, reason: 'AgentRestarted' };
    t.resumeFrom = undefined;
    this.opts.log(
      `session ${sessionKey(t.session)}: not traced from ${gap.from} to ${gap.to} (agent restarted)`,
    );
    // Containers recorded before whose pods still exist may have run on untraced.
    for (const c of t.containers.containers()) {
      if (this.podOf(c.podUID)) t.containers.addContainerGap(c.containerID, gap);
    }
    this.addGap(t, gap, this.cgroups.keys(), true);
  }

  // --- writing status ----------------------------------------------------------------------------

  private lastPrune = 0;
  /** When to collect once more after tracing ended (see prune). */
  private idleGcAt?: number;

  /** Forgets what no open session can need any more (see ./retention). */
  private prune(): void {
    const sessions = [...this.sessions.values()];
    const tracing = sessions.some((t) => this.active(t));
    if (tracing) this.idleGcAt = undefined;
    else if (this.idleGcAt !== undefined && Date.now() >= this.idleGcAt) {
      // V8 shrinks its young generation only in a collection that finds the allocation rate low:
      // not the one as tracing ends, which still sees the sessions' rate. Measured after a 300-pod
      // churn: 3.2 MiB less committed heap.
      this.idleGcAt = undefined;
      globalThis.gc?.();
      this.opts.log(`collected again, idle; ${processMemory()}`);
    }
    const pending = new Set(sessions.flatMap((t) => [...pendingOf(t)]));
    const dropped = prune(
      { cgroups: this.cgroups, gone: this.gone, identities: this.identities },
      {
        now: Date.now(),
        tracing,
        livePods: new Set(this.pods.keys()),
        exists: existsSync,
        pending: (cgroup) => pending.has(cgroup),
        // The program's last print of a vanished cgroup comes within an interval; a flush after.
        graceMs: 2 * this.opts.intervalMs + this.opts.flushMs,
        pendingMaxMs: 60_000,
      },
    );
    if (dropped.cgroups.length || dropped.pods.length) {
      // Nothing traced any more: the heap the sessions needed is garbage now, and V8 would keep it
      // until the next allocation pressure (the image runs node with --expose-gc).
      if (!tracing) {
        globalThis.gc?.();
        this.idleGcAt = Date.now() + 5000;
      }
      this.opts.log(
        `forgot ${dropped.cgroups.length} cgroups, ${dropped.pods.length} deleted pods, ${dropped.identities} identities; now ${JSON.stringify(this.memory)}; ${processMemory()}`,
      );
    }
  }

  private async tick(): Promise<void> {
    if (Date.now() - this.lastPrune >= 1000) {
      this.lastPrune = Date.now();
      this.prune();
    }
    const due = [...this.sessions.values()].some((t) => t.finishing === 'due' && !t.final);
    if (due || Date.now() - this.lastFlush >= this.opts.flushMs) await this.flush();
  }

  private lastFlush = 0;
  private flushAgain = false;

  /** Writes every session this node holds targets or records for; failures are retried next time. */
  async flush(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.flushAgain = false;
        this.lastFlush = Date.now();
        // Target containers already running are learnt when the program is planned; while the
        // tracer is busy (a switch stopping a program takes seconds) a new session's would stay
        // unknown, and its sets be dropped as of a pod never seen. Planning once here learns them.
        this.targets();
        for (const t of [...this.sessions.values()]) {
          try {
            await this.flushOne(t);
          } catch (e) {
            if (e instanceof ApiError && e.statusCode === 404) {
              this.sessions.delete(sessionKey(t.session));
              this.writer.forget(t.session);
            } else this.opts.log(`flush ${sessionKey(t.session)}: ${(e as Error).message}`);
          }
        }
      } while (this.flushAgain);
    } finally {
      this.flushing = false;
    }
  }

  /** Who a cgroup's container is for this session, once its pod status named it. */
  private infoOf(t: Tracked, c: CgroupState, who: ContainerIdentity): ContainerInfo {
    return {
      ...who,
      // Seen from its start by this session only if it started after the session did (an earlier
      // session may have armed it).
      recordedFromStart: c.fromStart && (c.seenAt ?? 0) >= t.since,
      filterSeen: c.filterSeen,
      spec: this.podOf(who.podUID)?.spec.containers.find((x) => x.name === who.container),
    };
  }

  /** What waits by cgroup (gaps, a recorder's events) joins its container's records once it is known. */
  private settle(t: Tracked): void {
    const only = t.session.spec.target.containers;
    const records = t.recording?.records;
    const drop = (cgroup: string) => {
      t.containers.drop(cgroup);
      records?.drop?.(cgroup);
    };
    for (const cgroup of pendingOf(t)) {
      const c = this.cgroups.get(cgroup);
      // Forgotten (see prune): no pod's status ever named its container (a pod's sandbox, whose
      // pause process is no container of the pod, or a pod never seen), so whose records these are is unknown.
      if (!c) {
        this.opts.log(
          `session ${sessionKey(t.session)}: records of cgroup ${cgroup} dropped: no pod's status named its container (a pod sandbox, or a pod never seen)`,
        );
        drop(cgroup);
        continue;
      }
      const pod = this.podOf(c.podUID);
      if (pod && !coversPod(t.session, pod)) {
        drop(cgroup);
        continue;
      }
      const who = c.containerID ? this.identities.get(c.containerID) : undefined;
      if (!who) continue; // its pod status does not name it yet; kept for the next flush
      if (only?.length && !only.includes(who.container)) {
        drop(cgroup);
        continue;
      }
      const info = this.infoOf(t, c, who);
      t.containers.settle(cgroup, info);
      records?.settle?.(cgroup, info);
    }
    if (!records?.traced || !this.traced(t)) return;
    // The recorder may keep a record of a running target container that did nothing it records yet.
    for (const c of this.cgroups.values()) {
      const pod = this.pods.get(c.podUID ?? '');
      if (!c.recording || c.goneAt !== undefined || !pod || !coversPod(t.session, pod)) continue;
      const who = c.containerID ? this.identities.get(c.containerID) : undefined;
      if (!who || (only?.length && !only.includes(who.container))) continue;
      const info = this.infoOf(t, c, who);
      records.traced(info);
    }
  }

  /** Records the final write leaves out, each with what its container lacked (for a record that misses a container). */
  private logUnsettled(t: Tracked): void {
    const pending = pendingOf(t);
    if (!pending.size) return;
    const podState = (uid: string | undefined) => {
      if (!uid) return 'no pod';
      if (this.pods.has(uid)) return 'pod live';
      return this.gone.has(uid) ? 'pod deleted' : 'pod never seen';
    };
    const why = [...pending].map((cgroup) => {
      const c = this.cgroups.get(cgroup);
      return `${cgroup} (${podState(c?.podUID)}, container ${c?.containerID?.slice(0, 12) ?? '?'} not named by its pod's status: a sandbox, or a status not seen yet)`;
    });
    this.opts.log(`session ${sessionKey(t.session)}: final record leaves out ${why.join(', ')}`);
  }

  private bpftraceReady(): ConditionUpdate {
    if (this.closing) {
      return {
        type: 'BpftraceReady',
        status: 'False',
        reason: 'AgentStopped',
        message: 'the node agent stopped',
      };
    }
    return this.health
      ? {
          type: 'BpftraceReady',
          status: 'False',
          reason: this.health.reason,
          message: [this.opts.privilegeProblem, this.health.stderr || this.health.message]
            .filter(Boolean)
            .join('\n'),
        }
      : { type: 'BpftraceReady', status: 'True', reason: 'Running', message: 'bpftrace is attached' };
  }

  /** The node's fields of every entry it writes. */
  private entryOf(t: Tracked, part: Pick<NodeRecord, 'final' | 'phase' | 'containers' | 'conditions'>) {
    return {
      node: this.opts.node,
      arch: this.opts.arch,
      agentVersion: VERSION,
      bpftraceVersion: this.opts.bpftrace.version,
      ...part,
      ...(t.nodeGaps.length ? { gaps: t.nodeGaps } : {}),
    };
  }

  /** This node's record; the session's phase is each reader's to derive from every node's. */
  private async writeEntry(t: Tracked, entry: UnstampedRecord): Promise<void> {
    await this.writer.writeRecord(t.session, entry, t.recording?.recorder.tallies);
    t.phaseWritten = entry.phase;
    t.conditions = entry.conditions;
  }

  private async flushOne(t: Tracked): Promise<void> {
    const stamp = new Date().toISOString();
    const refused = t.refused;
    if (refused?.sessionWide) {
      const conditions = transition(
        t.conditions,
        [{ type: 'Accepted', status: 'False', reason: refused.reason, message: refused.message }],
        stamp,
      );
      await this.writer.writeStatus(t.session, { phase: 'Failed', message: refused.message, conditions });
      t.conditions = conditions;
      return;
    }
    // A session whose targets are on other nodes is theirs to refuse or trace.
    if (refused) {
      if (!concernsNode(t.session, this.pods.values())) return;
      const accepted = {
        type: 'Accepted',
        status: 'False',
        reason: refused.reason,
        message: refused.message,
      } as const;
      const conditions = transition(t.conditions, [accepted], stamp);
      await this.writeEntry(t, this.entryOf(t, { final: true, phase: 'Failed', containers: [], conditions }));
      return;
    }
    if (t.final && t.phaseWritten === 'Completed') return;
    const finishing = t.finishing === 'due';
    if (finishing) this.closeOpenGaps(t, stamp);
    this.settle(t);
    if (finishing) this.logUnsettled(t);
    const records = t.recording?.records;
    const containers = t.containers
      .containers()
      .map((c) => ({ ...c, ...records?.container?.(c.containerID) }));
    // A pod session concerns only its pod's node; an open one every node (a matching pod may come).
    if (!concernsNode(t.session, this.pods.values()) && !containers.length && t.phaseWritten === undefined)
      return;
    const phase: SessionPhase = finishing ? 'Completed' : this.traced(t) ? 'Tracing' : 'Pending';
    if (phase === 'Tracing') t.tracedFrom ??= Date.now();
    const conditions = transition(t.conditions, [this.bpftraceReady()], stamp);
    await this.writeEntry(t, {
      ...this.entryOf(t, { final: finishing, phase, containers, conditions }),
      ...records?.node?.(),
    });
    if (finishing) {
      t.final = true;
      void this.tracer.reconcile();
    }
  }
}

/** Cgroups whose records a session holds but cannot attribute yet (their container is not named). */
function pendingOf(t: Tracked): Set<string> {
  return new Set([...t.containers.pendingCgroups(), ...(t.recording?.records.pendingCgroups?.() ?? [])]);
}

/** The part of an untraced interval after the session began recording here; none before it. */
function sinceTraced(t: Tracked, gap: Gap): Gap | undefined {
  if (t.tracedFrom === undefined || Date.parse(gap.to) <= t.tracedFrom) return undefined;
  if (Date.parse(gap.from) >= t.tracedFrom) return gap;
  return { ...gap, from: new Date(t.tracedFrom).toISOString() };
}

/** The process's own memory, for the log: which part grows tells a kept heap from kept records. */
function processMemory(): string {
  const m = process.memoryUsage();
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  return `rss ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)} of ${mib(m.heapTotal)} MiB, external ${mib(m.external)} MiB`;
}
