/**
 * What turns a network session's flows into flow log lines while it runs: a view of the cluster
 * (pods, services, endpoint slices, nodes, namespaces and the workloads' controllers), so each
 * flow's target and peer are resolved while fresh, and a writer for the log. Used by `netpol
 * monitor` and by `record`, which differ only in where the log goes and when they stop.
 */
import { HardenError } from '../errors';
import { flowsOf } from '../agent/recorders/network/session';
import { flowKey, MAX_FLOWS_PER_NODE } from '../agent/recorders/network/types';
import { ApiError, type Kube } from '../kube/client';
import { inform } from '../kube/informer';
import type { KubeObject } from '../kube/objects';
import { R, resourcePath } from '../kube/paths';
import { CLUSTER_DNS_SERVICES, servesDns } from '../netpol/cluster-dns';
import {
  ClusterView,
  type ControllerKind,
  type ControllerRef,
  type ViewController,
  type ViewEndpointSlice,
  type ViewPod,
  type ViewService,
} from '../netpol/cluster-view';
import { FLOW_LOG_FORMAT, FLOW_LOG_VERSION, type DnsIdentity, type TargetPod } from '../netpol/log';
import { FlowLogWriter } from '../netpol/log-writer';
import { describeGap, GapWatch } from '../session/gaps';
import type { TraceSession } from '../session/types';
import type { Io } from './context';
import { NETWORK_GAP_TERMS } from './flow-log-input';

const CONTROLLER_PATHS: Record<ControllerKind, (typeof R)[keyof typeof R]> = {
  ReplicaSet: R.replicasets,
  StatefulSet: R.statefulsets,
  DaemonSet: R.daemonsets,
  Job: R.jobs,
};

export interface FlowRecorder {
  /** Writes what is new in the session's flows and gaps since the last call. */
  record(s: TraceSession): Promise<void>;
  /** Unique flows written. */
  readonly flows: number;
  readonly writer: FlowLogWriter;
  /** Nodes whose agent dropped flows beyond its bound. */
  readonly truncated: ReadonlySet<string>;
  readonly gaps: GapWatch;
  /** Stops watching the cluster. */
  close(): void;
}

/**
 * Watches the cluster (complete before it returns, so the first flow resolves) and writes the log's
 * header through `sink`, one whole line per call.
 */
export async function openFlowRecorder(
  kube: Kube,
  io: Io,
  namespace: string,
  sink: (line: string) => void,
): Promise<FlowRecorder> {
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
  // The cluster DNS Service: among the Services watched, else (watching one namespace only) read by
  // its well-known names, with its EndpointSlices for the ports its pods answer on.
  let dnsService = view.clusterDns();
  if (!dnsService) {
    dnsService = await fetchClusterDns(kube);
    if (dnsService) await fetchEndpointSlices(kube, view, dnsService);
  }
  // The ports its pods really serve on (CoreDNS may listen on 5353 behind port 53).
  const dns: DnsIdentity | null = dnsService ? dnsIdentity(view, dnsService) : null;

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

  const writer = new FlowLogWriter(sink);
  try {
    writer.write({
      kind: 'header',
      format: FLOW_LOG_FORMAT,
      version: FLOW_LOG_VERSION,
      cluster: kube.ctx.cluster,
      context: kube.ctx.context,
      startTime: new Date().toISOString(),
      dns,
    });
  } catch (e) {
    ac.abort();
    throw e instanceof HardenError
      ? e
      : new HardenError(`cannot write the flow log: ${(e as Error).message}`);
  }

  const written = new Map<string, number>();
  const targets = new Map<string, TargetPod>();
  const truncated = new Set<string>();
  const gaps = new GapWatch();
  let flows = 0;
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
  };
  return {
    record,
    get flows() {
      return flows;
    },
    writer,
    truncated,
    gaps,
    close: () => ac.abort(),
  };
}

/** The first well-known cluster DNS Service that exists and serves DNS; errors (forbidden) count as absent. */
async function fetchClusterDns(kube: Kube): Promise<ViewService | undefined> {
  for (const ref of CLUSTER_DNS_SERVICES) {
    const svc = await kube.getOptional<ViewService>(resourcePath(R.services, ref)).catch(() => undefined);
    if (svc && servesDns(svc)) return svc;
  }
  return undefined;
}

/** A Service's EndpointSlices into the view, where it could not watch their namespace; best effort. */
async function fetchEndpointSlices(kube: Kube, view: ClusterView, svc: ViewService): Promise<void> {
  const list = await kube
    .get<{ items?: ViewEndpointSlice[] }>(
      resourcePath(R.endpointslices, { namespace: svc.metadata.namespace }),
      { labelSelector: `kubernetes.io/service-name=${svc.metadata.name}` },
    )
    .catch(() => undefined);
  for (const slice of list?.items ?? []) view.apply('endpointslice', 'ADDED', slice);
}

function dnsIdentity(view: ClusterView, svc: ViewService): DnsIdentity {
  const namespace = svc.metadata.namespace ?? '';
  const name = svc.metadata.name;
  const ports = view.dnsTargetPorts(svc).filter((p) => p !== 53);
  return { namespace, name, selector: { ...svc.spec.selector }, ...(ports.length ? { ports } : {}) };
}
