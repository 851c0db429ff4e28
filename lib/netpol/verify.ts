import { contains, type Address } from './cidr';
import type { Labels, NamedPort } from './log';
import {
  policyId,
  type CompiledPeer,
  type CompiledPolicy,
  type CompiledPort,
  type PortProtocol,
} from './policy';
import type { Selector } from '../labels';

/**
 * The Kubernetes NetworkPolicy decision for one connection, as the API documents it and felix
 * enforces it. Pure.
 *
 * - A pod is isolated for a direction only when a policy of its namespace selects it and has that
 *   type; an unisolated direction allows everything. Rules of all selecting policies OR together.
 * - A connection between two pods needs the source's egress AND the destination's ingress.
 *   Where one end is not a pod (an external address, a node, a hostNetwork pod), only the pod's
 *   side decides; policies never apply to hostNetwork pods.
 * - podSelector/namespaceSelector peers match pods only (never hostNetwork pods, whose packets carry
 *   the node's address). ipBlock matches by address, and for any address: felix matches pod IPs by
 *   ipBlock too, which the API leaves to the implementation.
 * - Ingress from the pod's own node is always allowed (the API says so; felix never polices
 *   host-originated packets). Egress to a node is policed like any address.
 * - A pod's traffic to itself is always allowed.
 * - A named port is resolved against the destination pod's container ports (for egress: the peer's);
 *   towards a destination that is not a pod it matches nothing.
 */

export interface PodEndpoint {
  kind: 'pod';
  namespace: string;
  name: string;
  labels: Labels;
  /** undefined: not recorded; then only kubernetes.io/metadata.name, which the API server sets on every namespace. */
  namespaceLabels?: Labels;
  /** undefined when unknown (a Service's pods the log never saw). */
  ip?: Address;
  /** undefined: not recorded, so named ports cannot be resolved against this pod. */
  namedPorts?: NamedPort[];
  /** Set when this stands for pods the log never saw, e.g. "the pods of service shop/catalog". */
  standIn?: string;
}

/** An address that is no pod's: external, a node, a hostNetwork pod. */
export interface HostEndpoint {
  kind: 'host';
  ip: Address;
  /** The destination pod's own node: its ingress is always allowed. */
  localNode?: boolean;
}

export type Endpoint = PodEndpoint | HostEndpoint;

export interface Connection {
  src: Endpoint;
  dst: Endpoint;
  protocol: PortProtocol;
  /** The destination port, or the name of one on the destination pod (a Service's named targetPort). */
  port: number | { name: string };
}

/** One end's policy decision. isolatedBy: the policies whose selection isolates it (empty: not isolated). */
export interface SideVerdict {
  allowed: boolean;
  isolatedBy: string[];
}

export interface Verdict {
  allowed: boolean;
  /** Present when the source is a pod. */
  egress?: SideVerdict;
  /** Present when the destination is a pod. */
  ingress?: SideVerdict;
  /** A pod's traffic to itself, which no policy can block. */
  self?: true;
}

const METADATA_NAME = 'kubernetes.io/metadata.name';

export class PolicySet {
  private readonly byNamespace = new Map<string, CompiledPolicy[]>();
  private readonly assumed = new Set<string>();
  /** Unknowns met while judging one side; they only matter (and are noted) when it denies. */
  private unknowns: string[] = [];
  /** Policies that selected some pod, for the "selects nothing" note. */
  private readonly used = new Set<string>();
  readonly policies: CompiledPolicy[];
  /** Ids given more than once: the later definition replaced the earlier (as `kubectl apply` would). */
  readonly replaced: string[] = [];

  constructor(policies: CompiledPolicy[]) {
    const byId = new Map<string, CompiledPolicy>();
    for (const p of policies) {
      const id = policyId(p);
      if (byId.has(id)) this.replaced.push(id);
      byId.set(id, p);
    }
    this.policies = [...byId.values()];
    for (const p of this.policies) {
      const list = this.byNamespace.get(p.namespace) ?? [];
      list.push(p);
      this.byNamespace.set(p.namespace, list);
    }
  }

  /** What the evaluator had to assume because the log lacked it, sorted, for notes. */
  assumptions(): string[] {
    return [...this.assumed].sort();
  }

  /** Policies that selected no pod of any connection evaluated so far. */
  unused(): CompiledPolicy[] {
    return this.policies.filter((p) => !this.used.has(policyId(p)));
  }

  /** Marks the policies selecting this pod as used, without a connection (a pod the log only names). */
  observe(pod: PodEndpoint): void {
    this.selecting(pod, 'ingress');
    this.selecting(pod, 'egress');
  }

  evaluate(c: Connection): Verdict {
    // "A pod cannot block access to itself" (the API's words): its own traffic never leaves it.
    if (c.src.kind === 'pod' && c.dst.kind === 'pod' && samePod(c.src, c.dst))
      return { allowed: true, self: true };
    const egress = c.src.kind === 'pod' ? this.side(c.src, 'egress', c.dst, c) : undefined;
    const ingress =
      c.dst.kind === 'pod'
        ? c.src.kind === 'host' && c.src.localNode
          ? { allowed: true, isolatedBy: [] }
          : this.side(c.dst, 'ingress', c.src, c)
        : undefined;
    return { allowed: (egress?.allowed ?? true) && (ingress?.allowed ?? true), egress, ingress };
  }

  private selecting(pod: PodEndpoint, dir: 'ingress' | 'egress'): CompiledPolicy[] {
    const out = (this.byNamespace.get(pod.namespace) ?? []).filter(
      (p) => p[dir] !== undefined && p.podSelector.matches(pod.labels),
    );
    for (const p of out) this.used.add(policyId(p));
    return out;
  }

  private side(pod: PodEndpoint, dir: 'ingress' | 'egress', other: Endpoint, c: Connection): SideVerdict {
    const policies = this.selecting(pod, dir);
    if (policies.length === 0) return { allowed: true, isolatedBy: [] };
    const dst = dir === 'egress' ? other : pod;
    this.unknowns = [];
    const allowed = policies.some((p) =>
      (p[dir] ?? []).some(
        (rule) =>
          // Peers first: a port name is only resolved (or noted as unresolvable) for a matching peer.
          (rule.peers === 'any' || rule.peers.some((peer) => this.peerMatches(peer, p.namespace, other))) &&
          (rule.ports === 'any' || rule.ports.some((rp) => this.portMatches(rp, dst, c))),
      ),
    );
    // An unknown address or port name can only fail a match, so it matters only for a denial.
    if (!allowed) for (const u of this.unknowns) this.assume(u);
    return { allowed, isolatedBy: policies.map(policyId).sort() };
  }

  private peerMatches(peer: CompiledPeer, policyNamespace: string, e: Endpoint): boolean {
    if (peer.kind === 'ipBlock') {
      if (!e.ip) {
        this.unknowns.push(`${describe(e)}: its address is not in the log, so no ipBlock matched it`);
        return false;
      }
      const ip = e.ip;
      return contains(peer.cidr, ip) && !peer.except.some((x) => contains(x, ip));
    }
    if (e.kind !== 'pod') return false;
    if (peer.namespaces === 'own') {
      if (e.namespace !== policyNamespace) return false;
    } else if (!peer.namespaces.matches(this.namespaceLabels(e, peer.namespaces))) return false;
    return peer.pods.matches(e.labels);
  }

  private namespaceLabels(pod: PodEndpoint, sel: Selector): Labels {
    if (pod.namespaceLabels) return pod.namespaceLabels;
    if (sel.keys.some((k) => k !== METADATA_NAME))
      this.assume(
        `namespace ${pod.namespace}: its labels are not in the log; namespaceSelector "${sel.text}" was matched against ${METADATA_NAME}=${pod.namespace} alone`,
      );
    return { [METADATA_NAME]: pod.namespace };
  }

  private portMatches(rp: CompiledPort, dst: Endpoint, c: Connection): boolean {
    if (rp.protocol !== c.protocol) return false;
    if (rp.port === undefined) return true;
    const number = this.portNumber(dst, c);
    if (typeof rp.port === 'number') {
      if (number === undefined) return false;
      return rp.endPort === undefined ? number === rp.port : number >= rp.port && number <= rp.endPort;
    }
    // Both names resolve against the same pod and protocol: equal names are the same port.
    if (typeof c.port === 'object' && c.port.name === rp.port) return true;
    if (dst.kind !== 'pod' || number === undefined) return false;
    const ports = this.namedPorts(dst, rp.port);
    return ports.some((np) => np.name === rp.port && np.protocol === c.protocol && np.port === number);
  }

  /** The connection's destination port as a number, when it can be known. */
  private portNumber(dst: Endpoint, c: Connection): number | undefined {
    if (typeof c.port === 'number') return c.port;
    if (dst.kind !== 'pod') return undefined;
    const name = c.port.name;
    return this.namedPorts(dst, name).find((np) => np.name === name && np.protocol === c.protocol)?.port;
  }

  private namedPorts(pod: PodEndpoint, name: string): NamedPort[] {
    if (pod.namedPorts) return pod.namedPorts;
    this.unknowns.push(
      `${describe(pod)}: container ports are not in the log, so port name "${name}" was not resolved (it matches only a Service targetPort of that name)`,
    );
    return [];
  }

  private assume(text: string): void {
    this.assumed.add(text);
  }
}

const samePod = (a: PodEndpoint, b: PodEndpoint) =>
  a.standIn === undefined && a.namespace === b.namespace && a.name === b.name;

function describe(e: Endpoint): string {
  if (e.kind !== 'pod') return 'an address';
  return e.standIn ?? `pod ${e.namespace}/${e.name}`;
}
