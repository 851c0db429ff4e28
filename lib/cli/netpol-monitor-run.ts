import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { HardenError, INTERRUPTED } from '../errors';
import type { Deps } from './context';
import { ApiError } from '../kube/client';
import { inform } from '../kube/informer';
import type { KubeObject } from '../kube/objects';
import { R, resourcePath } from '../kube/paths';
import {
  ClusterView,
  type ControllerKind,
  type ControllerRef,
  type ViewController,
  type ViewPod,
  type ViewService,
} from '../netpol/cluster-view';
import { FLOW_LOG_FORMAT, FLOW_LOG_VERSION, type DnsIdentity, type TargetPod } from '../netpol/log';
import { FlowLogWriter } from '../netpol/log-writer';
import { NETWORK_GAP_TERMS } from './flow-log-input';
import { deleteSession, getSession, newSessionId, requireDeployed } from '../session/client';
import { describeGap, GapWatch } from '../session/gaps';
import { finishSession, startSession } from '../session/lifecycle';
import { resolveTargets } from '../session/targets';
import { flowsOf } from '../agent/recorders/network/session';
import { flowKey, MAX_FLOWS_PER_NODE } from '../agent/recorders/network/types';
import type { TraceSession } from '../session/types';

const CONTROLLER_PATHS: Record<ControllerKind, (typeof R)[keyof typeof R]> = {
  ReplicaSet: R.replicasets,
  StatefulSet: R.statefulsets,
  DaemonSet: R.daemonsets,
  Job: R.jobs,
};

export interface NetpolMonitorOptions {
  pod?: string;
  selector?: string;
  all?: boolean;
  /** The flow log file; undefined or "-" writes it to stdout. */
  output?: string;
  /** Stop after this long; undefined: until Ctrl-C. */
  durationMs?: number;
  /** How long to wait for the agents to start tracing. */
  startTimeoutMs: number;
  /** How long to wait, after the stop, for every node's final flush. */
  flushTimeoutMs: number;
  /** A log some node's final flush is missing from still exits 0 (with the warning). */
  acceptPartial: boolean;
  /** A log with gaps (a target not traced for a while) still exits 0 (each gap named). */
  acceptGaps: boolean;
  /** A log from a node whose agent dropped flows beyond its bound still exits 0 (the node named). */
  acceptTruncated: boolean;
  /** How often the session's status is read while monitoring. */
  pollMs?: number;
}

export async function runNetpolMonitor(
  opts: NetpolMonitorOptions,
  { kube, io, interrupt }: Deps,
): Promise<void> {
  const namespace = kube.namespace;
  await requireDeployed(kube);
  const { target } = await resolveTargets(kube, namespace, opts);

  // The view must be complete before the first flow arrives, so identities resolve while fresh.
  const view = new ClusterView();
  const ac = new AbortController();
  const warn = (what: string) => (e: Error) => io.err(`warning: watching ${what}: ${e.message}`);
  const watch = async <T extends KubeObject>(
    kind: Parameters<ClusterView['apply']>[0],
    path: string,
    narrower?: string,
  ) => {
    const onEvent = (t: 'ADDED' | 'MODIFIED' | 'DELETED', o: T) => view.apply(kind, t, o as never);
    try {
      return await inform<T>(kube, path, undefined, onEvent, ac.signal, warn(kind));
    } catch (e) {
      // Without cluster-wide read, fall back to the session's namespace (peers elsewhere become ipBlocks).
      if (e instanceof ApiError && e.statusCode === 403 && narrower) {
        io.err(`warning: cannot list ${kind}s in all namespaces; resolving peers in "${namespace}" only`);
        return inform<T>(kube, narrower, undefined, onEvent, ac.signal, warn(kind));
      }
      if (e instanceof ApiError && e.statusCode === 403) {
        io.err(
          kind === 'namespace'
            ? 'warning: cannot list namespaces; the log will lack their labels (verify then matches namespaceSelectors on the name alone)'
            : `warning: cannot list ${kind}s; their addresses will be reported as external`,
        );
        return undefined;
      }
      throw e;
    }
  };
  try {
    await Promise.all([
      watch('pod', resourcePath(R.pods), resourcePath(R.pods, { namespace })),
      watch('service', resourcePath(R.services), resourcePath(R.services, { namespace })),
      watch('endpointslice', resourcePath(R.endpointslices), resourcePath(R.endpointslices, { namespace })),
      watch('node', resourcePath(R.nodes)),
      // Namespace labels let verify judge namespaceSelectors; without them it assumes the name label alone.
      watch('namespace', resourcePath(R.namespaces)),
    ]);
  } catch (e) {
    ac.abort();
    throw e;
  }
  const dnsService = await kube
    .getOptional<ViewService>(resourcePath(R.services, { namespace: 'kube-system', name: 'kube-dns' }))
    .catch(() => undefined);
  // The ports its pods really serve on (CoreDNS may listen on 5353 behind port 53).
  const dnsPorts = view.servicePorts('kube-system', 'kube-dns').filter((p) => p !== 53);
  const dns: DnsIdentity | null = dnsService?.spec.selector
    ? {
        namespace: 'kube-system',
        name: 'kube-dns',
        selector: { ...dnsService.spec.selector },
        ...(dnsPorts.length ? { ports: dnsPorts } : {}),
      }
    : null;

  // A workload's selector is read from its controller, fetched once each (RBAC: get on
  // replicasets, statefulsets, daemonsets and jobs); without it, labels stand in.
  const warned = new Set<string>();
  const fetchController = async (ref: ControllerRef): Promise<void> => {
    try {
      const obj = await kube.getOptional<ViewController>(
        resourcePath(CONTROLLER_PATHS[ref.kind], { namespace: ref.namespace, name: ref.name }),
      );
      view.setController(ref, obj ?? null);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (!warned.has(ref.kind))
        io.err(
          `warning: cannot get ${ref.kind.toLowerCase()}s (${e.message}); their pods' policies select by labels instead of the workload's selector`,
        );
      warned.add(ref.kind);
      view.setController(ref, null);
    }
  };
  const readControllers = async (pods: ViewPod[]): Promise<void> => {
    for (const pod of pods)
      for (let ref = view.missingController(pod); ref; ref = view.missingController(pod))
        await fetchController(ref);
  };

  const output = opts.output && opts.output !== '-' ? opts.output : undefined;
  let fd: number | undefined;
  try {
    if (output) fd = openSync(output, 'w');
  } catch (e) {
    ac.abort();
    throw new HardenError(
      `cannot write the flow log ${output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  // One write per line, so Ctrl-C or a kill never leaves half a line in the file.
  const writer = new FlowLogWriter(
    fd === undefined ? (line) => io.out(line) : (line) => void writeSync(fd as number, line),
  );
  const closeLog = () => {
    if (fd === undefined) return;
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
  };
  writer.write({
    kind: 'header',
    format: FLOW_LOG_FORMAT,
    version: FLOW_LOG_VERSION,
    cluster: kube.ctx.cluster,
    context: kube.ctx.context,
    startTime: new Date().toISOString(),
    dns,
  });

  const id = newSessionId('np');
  const startup = interrupt();
  try {
    await startSession(kube, io, {
      namespace,
      id,
      type: 'network',
      target,
      timeoutMs: opts.startTimeoutMs,
      signal: startup.signal,
    });
  } catch (e) {
    ac.abort();
    closeLog();
    if (output) rmSync(output, { force: true }); // no half-made log behind a failed start
    throw e;
  } finally {
    startup.dispose();
  }
  const forHow = opts.durationMs ? ` for ${opts.durationMs / 1000}s` : '';
  io.err(`monitoring ${namespace}: session ${id}${forHow}; Ctrl-C ends it`);

  const written = new Map<string, number>();
  const targets = new Map<string, TargetPod>();
  let flows = 0;
  const truncated = new Set<string>();
  const gaps = new GapWatch();
  const record = async (s: TraceSession) => {
    const { flows: seen, truncatedOn } = flowsOf(s);
    // Each flow's count only grows (summed over nodes): what is new is the count beyond what was written.
    for (const f of seen) {
      const k = flowKey(f);
      const before = written.get(k) ?? 0;
      if (f.count <= before) continue;
      const pod = view.pod(namespace, f.pod);
      await readControllers([...(pod ? [pod] : []), ...view.podsAt(f.remoteIP)]);
      const tgt = pod ? view.target(pod) : targets.get(f.pod);
      if (!tgt) continue; // not resolvable yet; the next poll retries
      targets.set(f.pod, tgt);
      const peer = view.resolve(f.direction, f.proto, f.remoteIP, f.remotePort);
      writer.write({
        kind: 'flow',
        target: writer.idOf('target', tgt),
        peer: writer.idOf('peer', peer),
        direction: f.direction,
        proto: f.proto,
        localIP: f.localIP,
        localPort: f.localPort,
        remoteIP: f.remoteIP,
        remotePort: f.remotePort,
        count: f.count - before,
        firstSeen: f.firstSeen,
        lastSeen: f.lastSeen,
      });
      if (!before) flows++;
      written.set(k, f.count);
    }
    for (const node of truncatedOn) {
      if (truncated.has(node)) continue;
      truncated.add(node);
      io.err(
        `warning: node ${node}'s agent dropped flows beyond its bound (${MAX_FLOWS_PER_NODE} unique flows per node): ` +
          'connections first made after it are not in the flow log, and policies made from it would deny them',
      );
    }
    // Each gap as soon as it shows, on stderr and in the log (again if it grew).
    for (const g of gaps.news(s)) {
      io.err(`warning: ${describeGap(g, NETWORK_GAP_TERMS)}`);
      const container = g.pod && g.container ? { pod: g.pod, container: g.container } : {};
      writer.write({ kind: 'gap', node: g.node, ...container, ...g.gap });
    }
    io.progress(`flows ${flows} · peers resolved ${writer.peers}`);
  };

  let interruptedWhile: 'monitoring' | 'flushing' | undefined;
  let pending: string[] = [];
  try {
    const ended = deferred();
    const monitoring = interrupt();
    const timer = opts.durationMs ? setTimeout(() => ended.resolve(), opts.durationMs) : undefined;
    monitoring.signal.addEventListener('abort', () => {
      interruptedWhile = 'monitoring';
      ended.resolve();
    });
    try {
      while (!ended.settled) {
        await record(await getSession(kube, namespace, id, 'network'));
        await Promise.race([ended.promise, sleep(opts.pollMs ?? 1000)]);
      }
    } finally {
      if (timer) clearTimeout(timer);
      monitoring.dispose();
    }
    // Collect what the agents still hold: stop, then wait for every node's final flush. A fresh
    // interrupt, so Ctrl-C here (after --timeout, or a second one) ends the wait and is not lost.
    const flushing = interrupt();
    try {
      const session = await getSession(kube, namespace, id, 'network');
      const finished = await finishSession(kube, io, session, {
        timeoutMs: opts.flushTimeoutMs,
        signal: flushing.signal,
      });
      await record(finished.session);
      pending = finished.pending;
      if (finished.interrupted) interruptedWhile = 'flushing';
    } finally {
      flushing.dispose();
    }
  } finally {
    io.done();
    ac.abort();
    await deleteSession(kube, namespace, id).catch(() => undefined);
    closeLog();
  }
  const where = output ? ` in ${output}` : '';
  io.err(
    `${interruptedWhile === 'monitoring' ? 'stopped' : 'done'}: ${flows} flows, ${writer.peers} peers, ${writer.lines} lines${where}`,
  );
  if (interruptedWhile === 'flushing' || pending.length) {
    const nodes = pending.length ? pending.join(', ') : 'some nodes';
    const message =
      `the log${where} is partial: no final flush from ${nodes}` +
      (interruptedWhile === 'flushing'
        ? ' (interrupted while waiting)'
        : ` within ${opts.flushTimeoutMs / 1000}s`) +
      ", so connections in those nodes' last interval may be missing";
    if (interruptedWhile === 'flushing') throw new HardenError(message, undefined, INTERRUPTED);
    if (!opts.acceptPartial) {
      throw new HardenError(
        message,
        'Check the agents with kubectl harden status; pass --accept-partial to accept such a log (exit 0).',
      );
    }
    io.err(`warning: ${message}`);
  }
  if (gaps.count && !opts.acceptGaps) {
    throw new HardenError(
      `the log${where} has ${gaps.count} gap${gaps.count > 1 ? 's' : ''} (listed above): connections made then may be missing from it, and policies made from it would deny them`,
      'Monitor again, or pass --accept-gaps to take the log as it is (exit 0); netpol report and verify name its gaps too.',
    );
  }
  if (truncated.size && !opts.acceptTruncated) {
    throw new HardenError(
      `the log${where} lacks flows that ${[...truncated].sort().join(', ')} dropped beyond the agent's bound (listed above)`,
      'Monitor fewer pods or for less time, or pass --accept-truncated to take the log as it is (exit 0).',
    );
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function deferred() {
  let resolve!: () => void;
  const d = {
    settled: false,
    promise: new Promise<void>((r) => (resolve = r)),
    resolve: () => {
      d.settled = true;
      resolve();
    },
  };
  return d;
}
