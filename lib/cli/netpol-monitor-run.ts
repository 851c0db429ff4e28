import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { HardenError } from '../errors';
import { processIo } from './context';
import type { NetpolMonitorArgs } from './netpol';
import { interruptSignal, waitTracing } from './session-wait';
import { resolveTargets } from './targets';
import { parseDuration } from '../duration';
import { ApiError, Kube } from '../kube/client';
import { inform } from '../kube/informer';
import type { KubeObject } from '../kube/objects';
import { R, resourcePath } from '../kube/paths';
import { ClusterView, targetOf, type ViewPod, type ViewService } from '../netpol/cluster-view';
import {
  FLOW_LOG_FORMAT,
  FLOW_LOG_VERSION,
  formatLine,
  type DnsIdentity,
  type FlowLogLine,
  type TargetPod,
} from '../netpol/log';
import {
  createSession,
  deleteSession,
  getSession,
  newSessionId,
  requireDeployed,
  stopSession,
} from '../session/client';
import type { Flow, TraceSession } from '../session/types';

const POLL_MS = 1000;

/** Appends whole lines: one write() per line, so Ctrl-C or a kill never leaves half a line. */
class LineWriter {
  private readonly ids = { target: new Map<string, number>(), peer: new Map<string, number>() };
  private next = 0;
  lines = 0;

  constructor(private readonly fd: number) {}

  write(line: FlowLogLine): void {
    writeSync(this.fd, formatLine(line) + '\n');
    this.lines++;
  }

  /** The id of an identity, writing its definition line the first time it is seen. */
  idOf(kind: 'target' | 'peer', value: object): number {
    const key = JSON.stringify(value);
    let id = this.ids[kind].get(key);
    if (id === undefined) {
      id = this.next++;
      this.ids[kind].set(key, id);
      this.write(
        kind === 'target'
          ? { kind, id, target: value as TargetPod }
          : ({ kind, id, peer: value } as FlowLogLine),
      );
    }
    return id;
  }

  get peers(): number {
    return this.ids.peer.size;
  }
}

const flowKey = (node: string, f: Flow) =>
  [node, f.pod, f.direction, f.proto, f.localIP, f.localPort, f.remoteIP, f.remotePort].join('|');

export async function runNetpolMonitor(argv: NetpolMonitorArgs): Promise<void> {
  const io = processIo(argv);
  const kube = await Kube.connect(argv);
  const namespace = kube.namespace;
  const timeoutMs = parseDuration(argv.timeout);
  await requireDeployed(kube);
  const { target } = await resolveTargets(kube, namespace, {
    pod: argv.pod,
    selector: argv.selector,
    all: argv.all,
  });

  // The view must be complete before the first flow arrives, so identities resolve while fresh.
  const view = new ClusterView();
  const ac = new AbortController();
  const warn = (what: string) => (e: Error) => io.err(`warning: watching ${what}: ${e.message}`);
  const watch = async <T extends KubeObject>(
    kind: Parameters<ClusterView['apply']>[0],
    path: string,
    narrower?: string,
  ) => {
    try {
      return await inform<T>(
        kube,
        path,
        undefined,
        (t, o) => view.apply(kind, t, o as never),
        ac.signal,
        warn(kind),
      );
    } catch (e) {
      // Without cluster-wide read, fall back to the session's namespace (peers elsewhere become ipBlocks).
      if (e instanceof ApiError && e.statusCode === 403 && narrower) {
        io.err(`warning: cannot list ${kind}s in all namespaces; resolving peers in "${namespace}" only`);
        return inform<T>(
          kube,
          narrower,
          undefined,
          (t, o) => view.apply(kind, t, o as never),
          ac.signal,
          warn(kind),
        );
      }
      if (e instanceof ApiError && e.statusCode === 403) {
        io.err(`warning: cannot list ${kind}s; their addresses will be reported as external`);
        return undefined;
      }
      throw e;
    }
  };
  await Promise.all([
    watch('pod', resourcePath(R.pods), resourcePath(R.pods, { namespace })),
    watch('service', resourcePath(R.services), resourcePath(R.services, { namespace })),
    watch('endpointslice', resourcePath(R.endpointslices), resourcePath(R.endpointslices, { namespace })),
    watch('node', resourcePath(R.nodes)),
  ]);
  const dnsService = await kube
    .getOptional<ViewService>(resourcePath(R.services, { namespace: 'kube-system', name: 'kube-dns' }))
    .catch(() => undefined);
  const dns: DnsIdentity | null = dnsService?.spec.selector
    ? { namespace: 'kube-system', name: 'kube-dns', selector: { ...dnsService.spec.selector } }
    : null;

  const output = argv.output && argv.output !== '-' ? argv.output : undefined;
  let fd: number;
  try {
    fd = output ? openSync(output, 'w') : 1;
  } catch (e) {
    ac.abort();
    throw new HardenError(
      `cannot write the flow log ${output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const writer = new LineWriter(fd);
  writer.write({
    kind: 'header',
    format: FLOW_LOG_FORMAT,
    version: FLOW_LOG_VERSION,
    cluster: kube.ctx.cluster,
    context: kube.ctx.context,
    startTime: new Date().toISOString(),
    dns,
  });

  const id = newSessionId('network');
  await createSession(kube, namespace, id, 'network', target);
  // Nothing is recorded before an agent attached its program: wait, and remove the session on failure.
  const startup = interruptSignal();
  try {
    await waitTracing(kube, namespace, id, 'network', 30_000, io, startup.signal);
  } catch (e) {
    ac.abort();
    await deleteSession(kube, namespace, id);
    if (output) {
      closeSync(fd);
      rmSync(output, { force: true }); // no half-made log behind a failed start
    }
    throw startup.signal.aborted ? new HardenError(`interrupted; session "${id}" was removed`) : e;
  } finally {
    startup.dispose();
  }
  io.err(`monitoring ${namespace}: session ${id}${timeoutMs ? ` for ${argv.timeout}` : ''}; Ctrl-C ends it`);

  const written = new Map<string, number>();
  const targets = new Map<string, TargetPod>();
  let flows = 0;
  const record = (s: TraceSession) => {
    for (const node of s.status?.nodes ?? []) {
      for (const f of node.flows ?? []) {
        const k = flowKey(node.node, f);
        const before = written.get(k) ?? 0;
        if (f.count <= before) continue;
        const pod = view.pod(namespace, f.pod);
        const tgt = pod ? targetOf(pod as ViewPod) : targets.get(f.pod);
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
      if (node.truncated) io.err(`warning: node ${node.node} dropped flows beyond its cap (truncated)`);
    }
    io.progress(`flows ${flows} · peers resolved ${writer.peers}`);
  };

  let stopReason = 'timeout';
  const ended = new Promise<void>((resolve) => {
    const onSignal = () => {
      stopReason = 'interrupted';
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    if (timeoutMs) setTimeout(resolve, timeoutMs).unref();
  });
  let finished = false;
  void ended.then(() => (finished = true));
  try {
    while (!finished) {
      record(await getSession(kube, namespace, id, 'network'));
      await Promise.race([ended, new Promise((r) => setTimeout(r, POLL_MS))]);
    }
    // Collect what the agents still hold: stop, then wait briefly for their final flush.
    let s = await stopSession(kube, await getSession(kube, namespace, id, 'network'));
    for (let i = 0; i < 20 && (s.status?.nodes ?? []).some((n) => !n.final); i++) {
      await new Promise((r) => setTimeout(r, 500));
      s = await getSession(kube, namespace, id, 'network');
    }
    record(s);
  } finally {
    io.done();
    ac.abort();
    await deleteSession(kube, namespace, id).catch(() => undefined);
    if (output) {
      fsyncSync(fd);
      closeSync(fd);
    }
  }
  io.err(
    `${stopReason === 'interrupted' ? 'stopped' : 'done'}: ${flows} flows, ${writer.peers} peers, ${writer.lines} lines${output ? ` in ${output}` : ''}`,
  );
}
