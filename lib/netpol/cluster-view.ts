import { ownerOf, podIPs } from '../kube/objects';
import type { Labels, NamedPort, Peer, PodPolicyFacts, Protocol, ServiceEndpoint, TargetPod } from './log';

/** The parts of Pods, Services, EndpointSlices and Nodes that peer resolution reads. */
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
    containers?: { ports?: { name?: string; containerPort: number; protocol?: string }[] }[];
  };
  status?: { podIP?: string; podIPs?: { ip: string }[] };
}

export interface ViewNamespace {
  metadata: { name: string; labels?: Labels };
}

export interface ViewService {
  metadata: { name: string; namespace?: string };
  spec: {
    clusterIP?: string;
    clusterIPs?: string[];
    selector?: Labels;
    ports?: { name?: string; port: number; protocol?: string; targetPort?: number | string }[];
  };
}

export interface ViewEndpointSlice {
  metadata: { name: string; namespace?: string; labels?: Labels };
  endpoints?: { addresses: string[] }[];
  ports?: { name?: string; port?: number; protocol?: string }[];
}

export interface ViewNode {
  metadata: { name: string };
  status?: { addresses?: { type: string; address: string }[] };
}

type Kind = 'pod' | 'service' | 'endpointslice' | 'node' | 'namespace';
type Obj = ViewPod | ViewService | ViewEndpointSlice | ViewNode | ViewNamespace;

const key = (o: { metadata: { name: string; namespace?: string } }) =>
  `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

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

export function targetOf(pod: ViewPod, namespace?: ViewNamespace): TargetPod {
  return {
    namespace: pod.metadata.namespace ?? '',
    name: pod.metadata.name,
    labels: { ...(pod.metadata.labels ?? {}) },
    owner: ownerOf(pod),
    ...policyFacts(pod, namespace),
  };
}

const serviceIPs = (s: ViewService) =>
  [...new Set([s.spec.clusterIP, ...(s.spec.clusterIPs ?? [])])].filter(
    (x): x is string => Boolean(x) && x !== 'None',
  );

/**
 * What the cluster looks like right now, kept current from watch events, and how a flow's remote
 * address becomes a peer identity. Pure: events in, answers out; the monitor does the watching.
 */
export class ClusterView {
  private readonly objects: Record<Kind, Map<string, Obj>> = {
    pod: new Map(),
    service: new Map(),
    endpointslice: new Map(),
    node: new Map(),
    namespace: new Map(),
  };

  apply(kind: Kind, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Obj): void {
    if (type === 'DELETED') this.objects[kind].delete(key(obj));
    else this.objects[kind].set(key(obj), obj);
  }

  pod(namespace: string, name: string): ViewPod | undefined {
    return this.objects.pod.get(`${namespace}/${name}`) as ViewPod | undefined;
  }

  /** The pod as a flow's target, with its namespace's labels when they are known. */
  target(pod: ViewPod): TargetPod {
    return targetOf(pod, this.namespaceOf(pod));
  }

  private namespaceOf(pod: ViewPod): ViewNamespace | undefined {
    return this.objects.namespace.get(`/${pod.metadata.namespace ?? ''}`) as ViewNamespace | undefined;
  }

  private pods(): ViewPod[] {
    return [...this.objects.pod.values()] as ViewPod[];
  }

  private nodeByIP(ip: string): ViewNode | undefined {
    return ([...this.objects.node.values()] as ViewNode[]).find((n) =>
      n.status?.addresses?.some((a) => a.address === ip),
    );
  }

  private serviceByIP(ip: string): ViewService | undefined {
    return ([...this.objects.service.values()] as ViewService[]).find((s) => serviceIPs(s).includes(ip));
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
        for (const ip of ep.addresses) out.push({ ip, port: port.port });
    }
    return out.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
  }

  /** The identity behind a remote address, as it is now. Egress may hit a Service ClusterIP; ingress never does. */
  resolve(direction: 'ingress' | 'egress', proto: Protocol, ip: string, port: number): Peer {
    if (direction === 'egress') {
      const svc = this.serviceByIP(ip);
      const sp = svc?.spec.ports?.find((p) => p.port === port && (p.protocol ?? 'TCP') === proto);
      if (svc && sp) {
        const selector =
          svc.spec.selector && Object.keys(svc.spec.selector).length ? { ...svc.spec.selector } : null;
        return {
          kind: 'service',
          namespace: svc.metadata.namespace ?? '',
          name: svc.metadata.name,
          selector,
          port,
          protocol: proto,
          targetPort: sp.targetPort ?? port,
          ...(selector ? {} : { endpoints: this.endpointsOf(svc, sp.name, proto) }),
        };
      }
    }
    const owners = this.pods().filter((p) => podIPs(p).includes(ip));
    // A pod network address names one pod; a node address is shared by its hostNetwork pods.
    const pod = owners.find((p) => !p.spec.hostNetwork);
    if (pod) return podPeer(pod, false, this.namespaceOf(pod));
    const node = this.nodeByIP(ip);
    if (direction === 'egress') {
      const hostPod = owners.find((p) => p.spec.hostNetwork);
      if (hostPod) return podPeer(hostPod, true, this.namespaceOf(hostPod));
    }
    if (node) return { kind: 'node', name: node.metadata.name, ip };
    return { kind: 'external', ip, family: ip.includes(':') ? 6 : 4 };
  }
}

function podPeer(p: ViewPod, hostNetwork: boolean, namespace: ViewNamespace | undefined): Peer {
  return {
    kind: 'pod',
    namespace: p.metadata.namespace ?? '',
    name: p.metadata.name,
    labels: { ...(p.metadata.labels ?? {}) },
    owner: ownerOf(p),
    hostNetwork,
    ...policyFacts(p, namespace),
  };
}
