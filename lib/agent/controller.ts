/**
 * The agent's session controller: watches TraceSessions (all namespaces) and the pods of its own
 * node, keeps one bpftrace program tracing the targets of every running session (planned by
 * ./plan, assembled by ./assemble), and writes what it saw into each session's status: one entry
 * per node, owned by this node's field manager through server-side apply, so agents never
 * overwrite each other.
 */
import { existsSync } from 'node:fs';
import { ApiError, type Kube } from '../kube/client';
import { inform } from '../kube/informer';
import { ownerOf, podIPs, type Pod } from '../kube/objects';
import { R, resourcePath } from '../kube/paths';
import {
  API_VERSION,
  KIND,
  type Condition,
  type Gap,
  type NodeRecord,
  type SessionPhase,
  type TraceSession,
  type TraceSessionStatus,
} from '../session/types';
import { transition, type ConditionUpdate } from '../session/conditions';
import { withGap } from '../session/gaps';
import { VERSION } from '../version';
import { BpftraceError } from './bpftrace';
import { assembleProgram } from './assemble';
import { isNodeArch } from '../seccomp/names';
import { PrivilegeTable, type ContainerInfo } from './caps-parse';
import { cgroupIdOf, containerIdOfPath, parseContainerID, podUIDOfPath, type CgroupLayout } from './cgroups';
import type { TraceEvent } from './output';
import { FlowTable } from './net-parse';
import type { BpftraceProbe } from './dialect';
import { coversPod, planTargets, targetPodsOf, tracesSession, type CgroupState } from './plan';
import type { ProgramTargets } from './program';
import { prune, type GonePod } from './retention';
import { SessionRecords, sessionKey, type Identity } from './sessions';
import { canonicalJson, StatusMemo } from './status-memo';
import { Tracer, type TraceGap, type TracerHooks, type TracerLike } from './tracer';

export interface ControllerOptions {
  node: string;
  arch: string;
  /** The node's bpftrace: its version and program dialect, or why it cannot be used. */
  bpftrace: BpftraceProbe;
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

interface Tracked {
  session: TraceSession;
  /** When this agent began tracing it (ms): cgroups armed earlier were not seen from their start by it. */
  since: number;
  /** The spec last acted on: events that change only the status (our own writes) are not acted on. */
  spec: string;
  /** What was last written, so an unchanged status is not written again. */
  memo: StatusMemo;
  records: SessionRecords;
  /** Stop seen: the final flush is due once the last interval's sets have arrived. */
  finalAt?: number;
  final: boolean;
  phaseWritten?: SessionPhase;
  /** This node's conditions as last written: their transition times carry over. */
  conditions?: Condition[];
  refused?: string;
  /** Network sessions: unique flows of the target pods seen on this node. */
  flows?: FlowTable;
  /** Intervals in which this node traced nothing (open sessions: pods that ran only then are missing). */
  nodeGaps: Gap[];
  /** The previous agent's last write, when this agent took the session over: a gap until traced again. */
  resumeFrom?: string;
  /** Capabilities sessions: what each target container did with its privileges. */
  privileges?: PrivilegeTable;
}

const now = () => new Date().toISOString();

/** A status as written, less the time of writing (which alone is no reason to write). */
type UnstampedStatus = Omit<TraceSessionStatus, 'nodes'> & { nodes?: Omit<NodeRecord, 'lastFlush'>[] };

export class Controller {
  private readonly pods = new Map<string, Pod>();
  private readonly sessions = new Map<string, Tracked>();
  private readonly cgroups = new Map<string, CgroupState>();
  private readonly identities = new Map<string, Identity>();
  private readonly gone = new Map<string, GonePod>();
  private readonly tracer: TracerLike;
  private readonly abort = new AbortController();
  private flushTimer?: NodeJS.Timeout;
  private health: BpftraceError | undefined;
  private flushing = false;
  private closing = false;

  constructor(
    private readonly kube: Kube,
    private readonly opts: ControllerOptions,
  ) {
    const tracer =
      opts.tracer ??
      ((hooks) => new Tracer(hooks, { binary: opts.bpftrace.binary, intervalMs: opts.intervalMs }));
    this.tracer = tracer({
      targets: () => this.targets(),
      // targets() is empty, so no program is made, when this bpftrace has no dialect.
      program: (t) =>
        assembleProgram(
          t,
          opts.intervalMs,
          opts.bpftrace.dialect!,
          isNodeArch(opts.arch) ? opts.arch : undefined,
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
    this.health = opts.bpftrace.problem;
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
      const mine = s.status?.nodes?.find((n) => n.node === this.opts.node);
      t = {
        session: s,
        since: Date.now(),
        spec,
        memo: new StatusMemo(),
        conditions: mine?.conditions,
        records: new SessionRecords(mine),
        final: mine?.final ?? false,
        phaseWritten: s.status?.phase,
        nodeGaps: mine?.gaps ?? [],
        // An earlier agent was tracing this session here: from its last write until this agent
        // traces again, nothing was.
        resumeFrom: mine && !mine.final ? mine.lastFlush : undefined,
      };
      if (s.spec.type === 'network') {
        t.flows = this.flowTable(t);
        t.flows.seed(mine?.flows ?? [], mine?.truncated);
      }
      if (s.spec.type === 'capabilities') {
        if (!isNodeArch(this.opts.arch)) {
          t.refused = `capabilities sessions need an amd64 or arm64 node; node "${this.opts.node}" is ${this.opts.arch}`;
        }
        t.privileges = new PrivilegeTable(isNodeArch(this.opts.arch) ? this.opts.arch : 'amd64');
        t.privileges.seed(mine?.privileges ?? []);
      }
      this.sessions.set(key, t);
      const ns = s.spec.target.namespace;
      if (ns && ns !== s.metadata.namespace) {
        t.refused = `target namespace "${ns}" is not the session's namespace "${s.metadata.namespace}": a session may only trace pods in its own namespace`;
      }
    }
    t.session = s;
    t.spec = spec;
    if (s.spec.state === 'Stopped' && !t.final && t.finalAt === undefined) {
      // One more interval brings the sets printed since the last flush.
      t.finalAt = Date.now() + this.opts.intervalMs + 300;
    }
    void this.tracer.reconcile();
    void this.flush();
  }

  /** A pod by UID, whether it still exists or was deleted while its cgroups may still print. */
  private podOf(uid: string | undefined): Pod | undefined {
    return uid ? (this.pods.get(uid) ?? this.gone.get(uid)?.pod) : undefined;
  }

  /** Container IDs → names, remembered so a deleted pod's records keep their names. */
  private learnIdentities(pod: Pod): void {
    for (const cs of pod.status?.containerStatuses ?? []) {
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

  /** Egress by the sending cgroup's pod, ingress by the pod that owns the local address. */
  private flowTable(t: Tracked): FlowTable {
    const covered = (uid: string | undefined) => {
      const pod = this.podOf(uid);
      return pod && coversPod(t.session, pod) ? pod : undefined;
    };
    return new FlowTable({
      now: () => new Date(),
      podOfCgroup: (cg) => covered(this.cgroups.get(cg)?.podUID)?.metadata.name,
      podOfIP: (ip) =>
        [...this.pods.values()].find(
          (p) => !p.spec.hostNetwork && podIPs(p).includes(ip) && coversPod(t.session, p),
        )?.metadata.name,
      podIP: (name, family) => {
        const pod = [...this.pods.values()].find((p) => p.metadata.name === name && coversPod(t.session, p));
        return pod ? podIPs(pod).find((ip) => (ip.includes(':') ? 6 : 4) === family) : undefined;
      },
    });
  }

  private traced(t: Tracked): boolean {
    return tracesSession(this.tracer.attachedTargets, t.session, this.pods.values(), this.opts.layout);
  }

  private targetPods(t: Tracked): Pod[] {
    return targetPodsOf(t.session, this.pods.values());
  }

  /** The plan for the sessions traced now; containers it found running are remembered as such. */
  private targets(): ProgramTargets {
    if (!this.opts.bpftrace.dialect) return { seeds: [], podPrefixes: [] };
    const { targets, discovered } = planTargets({
      sessions: [...this.sessions.values()].filter((t) => this.active(t)).map((t) => t.session),
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
      case 'syscalls': {
        const byCgroup = new Map<string, number[]>();
        for (const { cgroup, nr } of e.pairs) {
          const list = byCgroup.get(cgroup) ?? [];
          list.push(nr);
          byCgroup.set(cgroup, list);
        }
        for (const [cgroup, nrs] of byCgroup) {
          const pod = this.podOf(this.cgroups.get(cgroup)?.podUID);
          for (const t of this.sessions.values()) {
            if (!this.active(t) || t.session.spec.type !== 'seccomp') continue;
            // A pod not seen yet may be a target of an open session: kept until settle knows.
            const maybe = pod ? coversPod(t.session, pod) : !t.session.spec.target.podName;
            if (maybe) t.records.add(cgroup, nrs);
          }
        }
        return;
      }
      case 'full':
      case 'lost':
        this.dataDropped(e.kind === 'full' ? 'MapFull' : 'EventsLost');
        return;
      case 'flows':
        for (const t of this.sessions.values()) if (t.flows && this.active(t)) t.flows.add(e.records);
        return;
      case 'privileges':
        for (const t of this.sessions.values()) {
          if (!t.privileges || !this.active(t)) continue;
          const mine = e.events.filter((ev) => {
            if (ev.kind === 'dir') return true; // names a directory, of no one cgroup
            const pod = this.pods.get(this.cgroups.get(ev.cgroup)?.podUID ?? '');
            // A pod whose watch event has not come yet (bpftrace prints faster than the API
            // server tells, on a loaded node) may be an open session's target: settle decides.
            return pod ? coversPod(t.session, pod) : !t.session.spec.target.podName;
          });
          t.privileges.add(mine);
        }
        return;
      default:
        return;
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
  private addGap(t: Tracked, gap: Gap, cgroups: Iterable<string>, nodeWide: boolean): void {
    for (const id of cgroups) {
      const uid = this.cgroups.get(id)?.podUID;
      const pod = uid ? this.pods.get(uid) : undefined;
      if (pod && coversPod(t.session, pod)) t.records.addGap(id, gap);
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
    for (const c of t.records.containers()) {
      if (this.podOf(c.podUID)) t.records.addContainerGap(c.containerID, gap);
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
    const pending = new Set(sessions.flatMap((t) => t.records.pendingCgroups()));
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
    const due = [...this.sessions.values()].some(
      (t) => t.finalAt !== undefined && !t.final && Date.now() >= t.finalAt,
    );
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
            if (e instanceof ApiError && e.statusCode === 404) this.sessions.delete(sessionKey(t.session));
            else this.opts.log(`flush ${sessionKey(t.session)}: ${(e as Error).message}`);
          }
        }
      } while (this.flushAgain);
    } finally {
      this.flushing = false;
    }
  }

  /** Server-side apply of this node's part of a session's status, unless it is what was last written. */
  private async write(t: Tracked, status: UnstampedStatus): Promise<boolean> {
    if (t.memo.unchanged(status)) return false;
    const { metadata } = t.session;
    const path = resourcePath(R.tracesessions, {
      namespace: metadata.namespace,
      name: metadata.name,
      subresource: 'status',
    });
    const stamped = {
      ...status,
      nodes: status.nodes?.map((n): NodeRecord => ({ ...n, lastFlush: now() })),
    };
    await this.kube.apply(
      path,
      {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: metadata.name, namespace: metadata.namespace },
        status: stamped,
      },
      { fieldManager: `harden-agent/${this.opts.node}` },
    );
    t.memo.wrote(status);
    return true;
  }

  private settle(t: Tracked): void {
    const only = t.session.spec.target.containers;
    for (const cgroup of t.records.pendingCgroups()) {
      const c = this.cgroups.get(cgroup);
      // Forgotten (see prune): no pod status ever named its container (a pod's sandbox, whose
      // pause process is no container of the pod, or a pod never seen), so whose sets these are is unknown.
      if (!c) {
        this.opts.log(
          `session ${sessionKey(t.session)}: sets of cgroup ${cgroup} dropped: no pod's status named its container (a pod sandbox, or a pod never seen)`,
        );
        t.records.drop(cgroup);
        continue;
      }
      const pod = this.podOf(c.podUID);
      if (pod && !coversPod(t.session, pod)) {
        t.records.drop(cgroup);
        continue;
      }
      const who = c.containerID ? this.identities.get(c.containerID) : undefined;
      if (!who) continue; // its pod status does not name it yet; kept for the next flush
      // Seen from its start by this session only if it started after the session did.
      const facts = { ...c, fromStart: c.fromStart && (c.seenAt ?? 0) >= t.since };
      if (only?.length && !only.includes(who.container)) {
        t.records.settle(cgroup, { ...who, containerID: `skip:${who.containerID}` }, facts);
        continue;
      }
      t.records.settle(cgroup, who, facts);
    }
    if (t.privileges) this.settlePrivileges(t, t.privileges);
  }

  /**
   * A capabilities session's events join their containers' records once the containers are known.
   * A target container the program traced that made no privileged call at all (an idle non-root
   * server on a running pod) still ran under the session: it gets its record, empty, so the advice
   * names it and what could not be observed, rather than the session seeming to have seen nothing.
   */
  private settlePrivileges(t: Tracked, table: PrivilegeTable): void {
    const only = t.session.spec.target.containers;
    const infoOf = (c: CgroupState | undefined): ContainerInfo | 'other' | undefined => {
      const who = c?.containerID ? this.identities.get(c.containerID) : undefined;
      if (!c || !who) return undefined;
      const pod = this.podOf(who.podUID);
      if (pod && !coversPod(t.session, pod)) return 'other';
      if (only?.length && !only.includes(who.container)) return 'other';
      const spec = this.pods.get(who.podUID)?.spec.containers.find((x) => x.name === who.container);
      const mounts = (spec?.volumeMounts ?? []).map((m) => m.mountPath);
      // Seen from its start by this session only if it started after the session did (an earlier
      // session may have armed it).
      return { ...who, recordedFromStart: c.fromStart && (c.seenAt ?? 0) >= t.since, mounts };
    };
    for (const cgroup of table.pendingCgroups()) {
      const c = this.cgroups.get(cgroup);
      // Forgotten (see prune): its pod was never seen, so whose events these are is unknown.
      const info = c ? infoOf(c) : 'other';
      if (info === 'other') table.drop(cgroup);
      else if (info) table.settle(cgroup, info);
    }
    if (!this.traced(t)) return;
    for (const [cgroup, c] of this.cgroups) {
      const pod = this.pods.get(c.podUID ?? '');
      if (!c.recording || c.goneAt !== undefined || !pod || !coversPod(t.session, pod)) continue;
      const info = infoOf(c);
      // Only one whose start was missed: one traced from its start has its exec's record coming.
      if (info && info !== 'other' && !info.recordedFromStart && !table.has(info.containerID)) {
        this.opts.log(
          `session ${sessionKey(t.session)}: container ${info.pod}/${info.container} traced, no privileged call yet: empty record`,
        );
        table.settle(cgroup, info);
      }
    }
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

  private async flushOne(t: Tracked): Promise<void> {
    const stamp = now();
    if (t.refused) {
      const conditions = transition(
        t.conditions,
        [{ type: 'Accepted', status: 'False', reason: 'TargetOutsideNamespace', message: t.refused }],
        stamp,
      );
      await this.write(t, { phase: 'Failed', message: t.refused, conditions });
      t.phaseWritten = 'Failed';
      t.conditions = conditions;
      return;
    }
    if (t.final && t.phaseWritten === 'Completed') return;
    const finishing = t.finalAt !== undefined && Date.now() >= t.finalAt;
    if (finishing) this.closeOpenGaps(t, stamp);
    const pods = this.targetPods(t);
    this.settle(t);
    const containers = t.records.containers().filter((c) => !c.containerID.startsWith('skip:'));
    const open = !t.session.spec.target.podName;
    // A pod session concerns only its pod's node; an open one every node (a matching pod may come).
    if (!open && !pods.length && !containers.length && t.phaseWritten === undefined) return;
    const ready = this.traced(t);
    const phase: SessionPhase = finishing ? 'Completed' : ready ? 'Tracing' : 'Pending';
    const conditions = transition(t.conditions, [this.bpftraceReady()], stamp);
    const entry: Omit<NodeRecord, 'lastFlush'> = {
      node: this.opts.node,
      arch: this.opts.arch,
      agentVersion: VERSION,
      bpftraceVersion: this.opts.bpftrace.version,
      final: finishing,
      containers,
      conditions,
      ...(t.nodeGaps.length ? { gaps: t.nodeGaps } : {}),
      ...(t.flows ? { flows: t.flows.flows(), truncated: t.flows.truncated } : {}),
      ...(t.privileges ? { privileges: t.privileges.containers() } : {}),
    };
    await this.write(t, { phase, nodes: [entry] });
    t.phaseWritten = phase;
    t.conditions = conditions;
    if (finishing) {
      t.final = true;
      void this.tracer.reconcile();
    }
  }
}

/** The process's own memory, for the log: which part grows tells a kept heap from kept records. */
function processMemory(): string {
  const m = process.memoryUsage();
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  return `rss ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)} of ${mib(m.heapTotal)} MiB, external ${mib(m.external)} MiB`;
}
