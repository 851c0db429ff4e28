import { heldIPs, ownerOf } from '../kube/objects';
import type {
  LabelSelector,
  Labels,
  NamedPort,
  Owner,
  Peer,
  PodPeer,
  PodPolicyFacts,
  Protocol,
  ServiceEndpoint,
  TargetPod,
} from './log';
import { parseAddress, type Address } from './cidr';
import { pickClusterDns } from './cluster-dns';
import { hostSideAddresses } from './node-addresses';
import { isUnstableLabel } from './synthesize';

/** The parts of Pods, Services, EndpointSlices, Nodes and controllers that peer resolution reads. */
export interface ViewPod {
  metadata: {
    name: string;
    namespace?: string;
    labels?: Labels;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  };
  spec: {
    hostNetwork?: boolean;
    nodeName?: string;
    containers?: {
      ports?: {
        name?: string;
        containerPort: number;
        protocol?: string;
        hostPort?: number;
        hostIP?: string;
      }[];
    }[];
  };
  status?: { phase?: string; podIP?: string; podIPs?: { ip: string }[] };
}

export interface ViewNamespace {
  metadata: { name: string; labels?: Labels };
}

export interface ViewService {
  metadata: { name: string; namespace?: string };
  spec: {
    clusterIP?: string;
    clusterIPs?: string[];
    externalIPs?: string[];
    selector?: Labels;
    ports?: {
      name?: string;
      port: number;
      protocol?: string;
      targetPort?: number | string;
      nodePort?: number;
    }[];
  };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}

export interface ViewEndpointSlice {
  metadata: { name: string; namespace?: string; labels?: Labels };
  endpoints?: { addresses: string[]; nodeName?: string }[];
  ports?: { name?: string; port?: number; protocol?: string }[];
}

/** A node: its addresses, and where the host's side of the pod network is (lib/netpol/node-addresses). */
export interface ViewNode {
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: { type: string; address: string }[] };
}

/** A ReplicaSet, StatefulSet, DaemonSet or Job: where a workload's own selector is read. */
export interface ViewController {
  metadata: {
    name: string;
    namespace?: string;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  };
  spec?: { selector?: LabelSelector; template?: { metadata?: { labels?: Labels } } };
}

/** The controller kinds the monitor reads (get) to learn selectors; each is fetched once. */
export const CONTROLLER_KINDS = ['ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job'] as const;
export type ControllerKind = (typeof CONTROLLER_KINDS)[number];

export interface ControllerRef {
  kind: ControllerKind;
  namespace: string;
  name: string;
}

type Kind = 'pod' | 'service' | 'endpointslice' | 'node' | 'namespace';
type Obj = ViewPod | ViewService | ViewEndpointSlice | ViewNode | ViewNamespace;

const key = (o: { metadata: { name: string; namespace?: string } }) =>
  `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

const controllerRef = (o: {
  metadata: { ownerReferences?: { kind: string; name: string; controller?: boolean }[] };
}) => (o.metadata.ownerReferences ?? []).find((r) => r.controller) ?? o.metadata.ownerReferences?.[0];

/** The named container ports a NetworkPolicy's named port resolves to (felix reads spec.containers). */
function namedPorts(pod: ViewPod): NamedPort[] {
  const out: NamedPort[] = [];
  for (const c of pod.spec.containers ?? [])
    for (const p of c.ports ?? [])
      if (p.name)
        out.push({
          name: p.name,
          protocol: (p.protocol ?? 'TCP') as NamedPort['protocol'],
          port: p.containerPort,
        });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What verify needs of a pod; namespace labels only when the namespace is known (listing it may be forbidden). */
function policyFacts(pod: ViewPod, namespace: ViewNamespace | undefined): PodPolicyFacts {
  return {
    ...(namespace ? { namespaceLabels: { ...(namespace.metadata.labels ?? {}) } } : {}),
    namedPorts: namedPorts(pod),
  };
}

const serviceIPs = (s: ViewService) =>
  [
    s.spec.clusterIP,
    ...(s.spec.clusterIPs ?? []),
    // In-cluster clients reach these through kube-proxy's DNAT, like the ClusterIP.
    ...(s.spec.externalIPs ?? []),
    ...(s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip),
  ].filter((x): x is string => Boolean(x) && x !== 'None');

/** A selector without the keys `drop` names. */
function without(s: LabelSelector, drop: (key: string) => boolean): LabelSelector | undefined {
  const out: LabelSelector = {};
  const labels = Object.entries(s.matchLabels ?? {}).filter(([k]) => !drop(k));
  if (labels.length) out.matchLabels = Object.fromEntries(labels);
  const exprs = (s.matchExpressions ?? []).filter((e) => !drop(e.key));
  if (exprs.length) out.matchExpressions = exprs;
  return out.matchLabels || out.matchExpressions ? out : undefined;
}

/**
 * The key a Deployment (or an Argo Rollout) adds to each ReplicaSet's selector; the rest is the
 * Deployment's own selector, immutable, so kept whole (`version: v1` tells reviews-v1 from -v2).
 */
const REPLICASET_HASH = new Set(['pod-template-hash', 'rollouts-pod-template-hash']);

/** Template labels as a selector (a Job's, whose own selector is its per-run controller-uid). */
function templateSelector(c: ViewController): LabelSelector | undefined {
  const labels = c.spec?.template?.metadata?.labels;
  return labels ? without({ matchLabels: labels }, isUnstableLabel) : undefined;
}

/** A pod's workload: its owner at the top of the controller chain, and that workload's selector. */
export interface Workload {
  owner: Owner | null;
  selector?: LabelSelector;
}

/**
 * What the cluster looks like right now, kept current from watch events, and how a flow's remote
 * address becomes a peer identity. Pure: events in, answers out; the monitor does the watching and
 * fetches the controllers `missingControllers` names.
 */
export class ClusterView {
  private readonly objects: Record<Kind, Map<string, Obj>> = {
    pod: new Map(),
    service: new Map(),
    endpointslice: new Map(),
    node: new Map(),
    namespace: new Map(),
  };
  private readonly hostSideOf = new WeakMap<ViewNode, Address[]>();
  /** kind/namespace/name → the controller, or null when it could not be read (then labels are used). */
  private readonly controllers = new Map<string, ViewController | null>();

  apply(kind: Kind, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Obj): void {
    if (type === 'DELETED') this.objects[kind].delete(key(obj));
    else this.objects[kind].set(key(obj), obj);
  }

  /** A controller the monitor fetched; null: it could not (forbidden, gone). Selectors are immutable: kept. */
  setController(ref: ControllerRef, obj: ViewController | null): void {
    this.controllers.set(`${ref.kind}/${ref.namespace}/${ref.name}`, obj);
  }

  private controller(ref: ControllerRef): ViewController | null | undefined {
    return this.controllers.get(`${ref.kind}/${ref.namespace}/${ref.name}`);
  }

  /** The controller the pod's workload still needs read, if any (fetch it, then ask again). */
  missingController(pod: ViewPod): ControllerRef | undefined {
    const ref = controllerRef(pod);
    if (!ref || !(CONTROLLER_KINDS as readonly string[]).includes(ref.kind)) return undefined;
    const c: ControllerRef = {
      kind: ref.kind as ControllerKind,
      namespace: pod.metadata.namespace ?? '',
      name: ref.name,
    };
    return this.controller(c) === undefined ? c : undefined;
  }

  /**
   * The pod's workload: a ReplicaSet's Deployment (selector: the ReplicaSet's less
   * pod-template-hash, which is what the Deployment's is), a Job's CronJob (selector: the template
   * labels less the per-run ones), a StatefulSet's or DaemonSet's own; a static pod (owned by its
   * Node) and a bare pod are their own workload. An unread controller falls back to names.
   */
  workloadOf(pod: ViewPod): Workload {
    const ref = controllerRef(pod);
    if (!ref || ref.kind === 'Node') return { owner: null };
    const namespace = pod.metadata.namespace ?? '';
    const known = (CONTROLLER_KINDS as readonly string[]).includes(ref.kind)
      ? this.controller({ kind: ref.kind as ControllerKind, namespace, name: ref.name })
      : undefined;
    if (!known) return { owner: ownerOf(pod) };
    const top = controllerRef(known);
    switch (ref.kind) {
      case 'ReplicaSet': {
        const selector = known.spec?.selector
          ? without(known.spec.selector, (k) => REPLICASET_HASH.has(k))
          : undefined;
        // A bare ReplicaSet is its own workload; one under a Deployment (or a Rollout) is that.
        return {
          owner: top ? { kind: top.kind, name: top.name } : { kind: 'ReplicaSet', name: ref.name },
          selector,
        };
      }
      case 'Job':
        return {
          owner:
            top?.kind === 'CronJob' ? { kind: 'CronJob', name: top.name } : { kind: 'Job', name: ref.name },
          selector: templateSelector(known),
        };
      default:
        return { owner: { kind: ref.kind, name: ref.name }, selector: known.spec?.selector };
    }
  }

  /** The pod as a flow's target: its workload, node, and namespace labels when they are known. */
  target(pod: ViewPod): TargetPod {
    const { owner, selector } = this.workloadOf(pod);
    return {
      namespace: pod.metadata.namespace ?? '',
      name: pod.metadata.name,
      labels: { ...(pod.metadata.labels ?? {}) },
      owner,
      ...(selector ? { selector } : {}),
      ...(pod.spec.nodeName ? { node: pod.spec.nodeName } : {}),
      ...policyFacts(pod, this.namespaceOf(pod)),
    };
  }

  private namespaceOf(pod: ViewPod): ViewNamespace | undefined {
    return this.objects.namespace.get(`/${pod.metadata.namespace ?? ''}`) as ViewNamespace | undefined;
  }

  pod(namespace: string, name: string): ViewPod | undefined {
    return this.objects.pod.get(`${namespace}/${name}`) as ViewPod | undefined;
  }

  /** The pods that have this address now (one pod-network pod, or a node's hostNetwork pods). */
  podsAt(ip: string): ViewPod[] {
    return this.pods().filter((p) => heldIPs(p).includes(ip));
  }

  private pods(): ViewPod[] {
    return [...this.objects.pod.values()] as ViewPod[];
  }

  private nodeByIP(ip: string): ViewNode | undefined {
    const nodes = [...this.objects.node.values()] as ViewNode[];
    const byStatus = nodes.find((n) => n.status?.addresses?.some((a) => a.address === ip));
    if (byStatus) return byStatus;
    const addr = parseAddress(ip);
    return (
      addr &&
      nodes.find((n) => this.hostSide(n).some((h) => h.family === addr.family && h.value === addr.value))
    );
  }

  /** A node's host-side addresses, worked out once per version of the node object. */
  private hostSide(node: ViewNode): Address[] {
    let known = this.hostSideOf.get(node);
    if (!known) this.hostSideOf.set(node, (known = hostSideAddresses(node)));
    return known;
  }

  private services(): ViewService[] {
    return [...this.objects.service.values()] as ViewService[];
  }

  private endpointsOf(svc: ViewService, portName: string | undefined, proto: Protocol): ServiceEndpoint[] {
    const slices = ([...this.objects.endpointslice.values()] as ViewEndpointSlice[]).filter(
      (e) =>
        e.metadata.namespace === svc.metadata.namespace &&
        e.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name,
    );
    const out: ServiceEndpoint[] = [];
    for (const slice of slices) {
      const port = (slice.ports ?? []).find(
        (p) => (p.name ?? '') === (portName ?? '') && (p.protocol ?? 'TCP') === proto,
      );
      if (!port?.port) continue;
      for (const ep of slice.endpoints ?? [])
        for (const ip of ep.addresses)
          out.push({ ip, port: port.port, ...(ep.nodeName ? { node: ep.nodeName } : {}) });
    }
    return out.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
  }

  /** A node's address, or a hostNetwork pod's (which is its node's). */
  private isNodeAddress(ip: string): boolean {
    return this.nodeByIP(ip) !== undefined || this.podsAt(ip).some((p) => p.spec.hostNetwork);
  }

  /** The cluster DNS Service among the Services seen (lib/netpol/cluster-dns), if one is. */
  clusterDns(): ViewService | undefined {
    return pickClusterDns(this.services());
  }

  /**
   * The numeric ports the DNS Service's pods answer DNS on: the target ports behind its port 53
   * (what resolv.conf reaches), numeric or resolved through its EndpointSlices, both protocols.
   * Its other ports (CoreDNS's metrics, 9153) are not DNS and are not granted with it.
   */
  dnsTargetPorts(svc: ViewService): number[] {
    const ports = new Set<number>();
    for (const p of svc.spec.ports ?? []) {
      if (p.port !== 53) continue;
      if (typeof p.targetPort === 'number') ports.add(p.targetPort);
      else if (p.targetPort === undefined) ports.add(p.port);
      for (const e of this.endpointsOf(svc, p.name, (p.protocol ?? 'TCP') as Protocol)) ports.add(e.port);
    }
    return [...ports].sort((a, b) => a - b);
  }

  /** The Service a destination is: a ClusterIP, external or load-balancer IP, or a node's NodePort. */
  private serviceAt(
    ip: string,
    port: number,
    proto: Protocol,
  ): { svc: ViewService; sp: NonNullable<ViewService['spec']['ports']>[number] } | undefined {
    const sameProto = (p: { protocol?: string }) => (p.protocol ?? 'TCP') === proto;
    for (const svc of this.services()) {
      if (!serviceIPs(svc).includes(ip)) continue;
      const sp = svc.spec.ports?.find((p) => p.port === port && sameProto(p));
      if (sp) return { svc, sp };
    }
    if (!this.nodeByIP(ip)) return undefined;
    for (const svc of this.services()) {
      const sp = svc.spec.ports?.find((p) => p.nodePort === port && sameProto(p));
      if (sp) return { svc, sp };
    }
    return undefined;
  }

  /** The identity behind a remote address, as it is now. Egress may hit a Service; ingress never does. */
  resolve(direction: 'ingress' | 'egress', proto: Protocol, ip: string, port: number): Peer {
    if (direction === 'egress') {
      const found = this.serviceAt(ip, port, proto);
      if (found) {
        const { svc, sp } = found;
        const selector =
          svc.spec.selector && Object.keys(svc.spec.selector).length ? { ...svc.spec.selector } : null;
        const endpoints = this.endpointsOf(svc, sp.name, proto);
        // Pods selected but on the host network are reached at node addresses: only those match.
        const hostEndpoints = selector ? endpoints.filter((e) => this.isNodeAddress(e.ip)) : [];
        return {
          kind: 'service',
          namespace: svc.metadata.namespace ?? '',
          name: svc.metadata.name,
          selector,
          port: sp.port,
          protocol: proto,
          targetPort: sp.targetPort ?? sp.port,
          ...(selector ? {} : { endpoints: endpoints.map((e) => this.withPod(e)) }),
          ...(hostEndpoints.length ? { hostEndpoints } : {}),
        };
      }
    }
    const owners = this.podsAt(ip);
    // A pod network address names one pod; a node address is shared by its hostNetwork pods.
    const pod = owners.find((p) => !p.spec.hostNetwork);
    if (pod) return this.podPeer(pod, false);
    const node = this.nodeByIP(ip);
    if (direction === 'egress') {
      const hostPod = owners.find((p) => p.spec.hostNetwork);
      const hostPort = this.hostPortAt(node?.metadata.name ?? hostPod?.spec.nodeName, ip, port, proto);
      if (hostPort) return { ...this.podPeer(hostPort.pod, false), containerPort: hostPort.containerPort };
      if (hostPod) return this.podPeer(hostPod, true);
    }
    if (node) return { kind: 'node', name: node.metadata.name, ip };
    return { kind: 'external', ip, family: ip.includes(':') ? 6 : 4 };
  }

  /** A selectorless Service's endpoint, with the pod that holds its address (if a pod-network pod does). */
  private withPod(e: ServiceEndpoint): ServiceEndpoint {
    const pod = this.podsAt(e.ip).find((p) => !p.spec.hostNetwork);
    return pod ? { ...e, pod: this.podPeer(pod, false) } : e;
  }

  /**
   * The pod on that node with a hostPort there (a node agent such as Datadog's or an OpenTelemetry
   * collector, reached at status.hostIP): the node DNATs to it, so policies see the pod.
   */
  private hostPortAt(
    nodeName: string | undefined,
    ip: string,
    port: number,
    proto: Protocol,
  ): { pod: ViewPod; containerPort: number } | undefined {
    if (nodeName === undefined) return undefined;
    for (const pod of this.pods()) {
      if (pod.spec.nodeName !== nodeName || pod.spec.hostNetwork || !heldIPs(pod).length) continue;
      for (const c of pod.spec.containers ?? [])
        for (const p of c.ports ?? [])
          if (
            p.hostPort === port &&
            (p.protocol ?? 'TCP') === proto &&
            (!p.hostIP || p.hostIP === ip || p.hostIP === '0.0.0.0' || p.hostIP === '::')
          )
            return { pod, containerPort: p.containerPort };
    }
    return undefined;
  }

  private podPeer(p: ViewPod, hostNetwork: boolean): PodPeer {
    const { owner, selector } = this.workloadOf(p);
    return {
      kind: 'pod',
      namespace: p.metadata.namespace ?? '',
      name: p.metadata.name,
      labels: { ...(p.metadata.labels ?? {}) },
      owner,
      hostNetwork,
      ...(selector ? { selector } : {}),
      ...(p.spec.nodeName ? { node: p.spec.nodeName } : {}),
      ...policyFacts(p, this.namespaceOf(p)),
    };
  }
}
