/**
 * The agent's session controller: watches TraceSessions (all namespaces) and the pods of its own
 * node, keeps one bpftrace program tracing the targets of every running session (planned by
 * ./plan, assembled by ./assemble), and writes what it saw into each session's status: one entry
 * per node, owned by this node's field manager through server-side apply, so agents never
 * overwrite each other.
 */
import { ApiError, type Kube } from '../kube/client';
import { inform } from '../kube/informer';
import { ownerOf, podIPs, type Pod } from '../kube/objects';
import { R, resourcePath } from '../kube/paths';
import {
  API_VERSION,
  KIND,
  type Condition,
  type NodeRecord,
  type SessionPhase,
  type TraceSession,
} from '../session/types';
import { transition, type ConditionUpdate } from '../session/conditions';
import { VERSION } from '../version';
import { BpftraceError } from './bpftrace';
import { assembleProgram } from './assemble';
import { cgroupIdOf, containerIdOfPath, parseContainerID, podUIDOfPath, type CgroupLayout } from './cgroups';
import type { TraceEvent } from './output';
import { FlowTable } from './net-parse';
import type { BpftraceProbe } from './dialect';
import { coversPod, planTargets, targetPodsOf, tracesSession, type CgroupState } from './plan';
import type { ProgramTargets } from './program';
import { SessionRecords, sessionKey, type Identity } from './sessions';
import { Tracer, type TracerHooks, type TracerLike } from './tracer';

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
  /** Makes the tracer that runs bpftrace for the controller's hooks (tests pass one that does not). */
  tracer?: (hooks: TracerHooks) => TracerLike;
}

interface Tracked {
  session: TraceSession;
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
}

const now = () => new Date().toISOString();

export class Controller {
  private readonly pods = new Map<string, Pod>();
  private readonly sessions = new Map<string, Tracked>();
  private readonly cgroups = new Map<string, CgroupState>();
  private readonly identities = new Map<string, Identity>();
  private readonly tracer: TracerLike;
  private readonly abort = new AbortController();
  private flushTimer?: NodeJS.Timeout;
  private health: BpftraceError | undefined;
  private flushing = false;

  constructor(
    private readonly kube: Kube,
    private readonly opts: ControllerOptions,
  ) {
    this.tracer = (opts.tracer ?? ((hooks) => new Tracer(hooks)))({
      targets: () => this.targets(),
      // targets() is empty, so no program is made, when this bpftrace has no dialect.
      program: (t) => assembleProgram(t, opts.intervalMs, opts.bpftrace.dialect!),
      onEvent: (e) => this.onEvent(e),
      onHealth: (e) => {
        this.health = e;
        void this.flush();
      },
      // Tell waiting `start` commands as soon as a program is attached.
      onAttached: () => void this.flush(),
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

  async close(): Promise<void> {
    this.abort.abort();
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.tracer.close();
    await this.flush();
  }

  // --- the world, as watched ---------------------------------------------------------------------

  private onPod(type: string, pod: Pod): void {
    if (type === 'DELETED') this.pods.delete(pod.metadata.uid ?? '');
    else this.pods.set(pod.metadata.uid ?? '', pod);
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
    if (!t) {
      const mine = s.status?.nodes?.find((n) => n.node === this.opts.node);
      t = {
        session: s,
        records: new SessionRecords(mine),
        final: mine?.final ?? false,
        phaseWritten: s.status?.phase,
        conditions: mine?.conditions,
      };
      if (s.spec.type === 'network') {
        t.flows = this.flowTable(t);
        t.flows.seed(mine?.flows ?? [], mine?.truncated);
      }
      this.sessions.set(key, t);
      const ns = s.spec.target.namespace;
      if (ns && ns !== s.metadata.namespace) {
        t.refused = `target namespace "${ns}" is not the session's namespace "${s.metadata.namespace}": a session may only trace pods in its own namespace`;
      }
    }
    t.session = s;
    if (s.spec.state === 'Stopped' && !t.final && t.finalAt === undefined) {
      // One more interval brings the sets printed since the last flush.
      t.finalAt = Date.now() + this.opts.intervalMs + 300;
    }
    void this.tracer.reconcile();
    void this.flush();
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
      const pod = uid ? this.pods.get(uid) : undefined;
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
      cgroups: this.cgroups,
      layout: this.opts.layout,
      cgroupIdOf,
    });
    for (const [id, c] of discovered) this.cgroups.set(id, c);
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
          const uid = this.cgroups.get(cgroup)?.podUID;
          for (const t of this.sessions.values()) {
            if (t.refused || t.final || t.session.spec.type !== 'seccomp') continue;
            const pod = uid ? this.pods.get(uid) : undefined;
            if (pod ? coversPod(t.session, pod) : false) t.records.add(cgroup, nrs);
          }
        }
        return;
      }
      case 'flows':
        for (const t of this.sessions.values()) if (t.flows && this.active(t)) t.flows.add(e.records);
        return;
      default:
        return;
    }
  }

  // --- writing status ----------------------------------------------------------------------------

  private async tick(): Promise<void> {
    const due = [...this.sessions.values()].some(
      (t) => t.finalAt !== undefined && !t.final && Date.now() >= t.finalAt,
    );
    if (due || Date.now() - this.lastFlush >= this.opts.flushMs) await this.flush();
  }

  private lastFlush = 0;

  /** Writes every session this node holds targets or records for; failures are retried next time. */
  async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    this.lastFlush = Date.now();
    try {
      for (const t of [...this.sessions.values()]) {
        try {
          await this.flushOne(t);
        } catch (e) {
          if (e instanceof ApiError && e.statusCode === 404) this.sessions.delete(sessionKey(t.session));
          else this.opts.log(`flush ${sessionKey(t.session)}: ${(e as Error).message}`);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private settle(t: Tracked): void {
    const only = t.session.spec.target.containers;
    for (const cgroup of t.records.pendingCgroups()) {
      const c = this.cgroups.get(cgroup);
      const who = c?.containerID ? this.identities.get(c.containerID) : undefined;
      if (!c || !who) continue; // its pod status does not name it yet; kept for the next flush
      if (only?.length && !only.includes(who.container)) {
        t.records.settle(cgroup, { ...who, containerID: `skip:${who.containerID}` }, c);
        continue;
      }
      t.records.settle(cgroup, who, c);
    }
  }

  private bpftraceReady(): ConditionUpdate {
    return this.health
      ? {
          type: 'BpftraceReady',
          status: 'False',
          reason: this.health.reason,
          message: this.health.stderr || this.health.message,
        }
      : { type: 'BpftraceReady', status: 'True', reason: 'Running', message: 'bpftrace is attached' };
  }

  private async flushOne(t: Tracked): Promise<void> {
    const { metadata } = t.session;
    const path = resourcePath(R.tracesessions, {
      namespace: metadata.namespace,
      name: metadata.name,
      subresource: 'status',
    });
    const fieldManager = `harden-agent/${this.opts.node}`;
    if (t.refused) {
      if (t.phaseWritten === 'Failed') return;
      await this.kube.apply(
        path,
        {
          apiVersion: API_VERSION,
          kind: KIND,
          metadata: { name: metadata.name, namespace: metadata.namespace },
          status: {
            phase: 'Failed',
            message: t.refused,
            conditions: transition(
              undefined,
              [{ type: 'Accepted', status: 'False', reason: 'TargetOutsideNamespace', message: t.refused }],
              now(),
            ),
          },
        },
        { fieldManager },
      );
      t.phaseWritten = 'Failed';
      return;
    }
    const pods = this.targetPods(t);
    this.settle(t);
    const containers = t.records.containers().filter((c) => !c.containerID.startsWith('skip:'));
    const open = !t.session.spec.target.podName;
    // A pod session concerns only its pod's node; an open one every node (a matching pod may come).
    if (!open && !pods.length && !containers.length && t.phaseWritten === undefined) return;
    const finishing = t.finalAt !== undefined && Date.now() >= t.finalAt;
    if (t.final && t.phaseWritten === 'Completed') return;
    const ready = this.traced(t);
    const phase: SessionPhase = finishing ? 'Completed' : ready ? 'Tracing' : 'Pending';
    const conditions = transition(t.conditions, [this.bpftraceReady()], now());
    const entry: NodeRecord = {
      node: this.opts.node,
      arch: this.opts.arch,
      agentVersion: VERSION,
      bpftraceVersion: this.opts.bpftrace.version,
      lastFlush: now(),
      final: finishing,
      containers,
      conditions,
      ...(t.flows ? { flows: t.flows.flows(), truncated: t.flows.truncated } : {}),
    };
    await this.kube.apply(
      path,
      {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: metadata.name, namespace: metadata.namespace },
        status: { phase, nodes: [entry] },
      },
      { fieldManager },
    );
    t.phaseWritten = phase;
    t.conditions = conditions;
    if (finishing) {
      t.final = true;
      void this.tracer.reconcile();
    }
  }
}
