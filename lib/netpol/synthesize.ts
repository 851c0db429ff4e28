import {
  isSelectorless,
  type DnsIdentity,
  type Flow,
  type Labels,
  type Peer,
  type PodPeer,
  type Protocol,
  type ServicePeer,
  type TargetPod,
} from './log';
import { unmapIPv4 } from '../ip';

/**
 * Flows in, NetworkPolicies out. Pure and streaming: `add` folds one flow into per-workload rule
 * sets keyed by peer identity and port, so memory grows with the number of distinct rules, never
 * with the number of flows. `policies()` renders them sorted, so two runs diff cleanly.
 */

export interface LabelSelector {
  matchLabels: Labels;
}

export interface NetworkPolicyPeer {
  namespaceSelector?: LabelSelector;
  podSelector?: LabelSelector;
  ipBlock?: { cidr: string };
}

export interface NetworkPolicyPort {
  protocol: Protocol;
  /** A number, or a named container port of the selected pods. */
  port: number | string;
}

export interface NetworkPolicyIngressRule {
  from: NetworkPolicyPeer[];
  ports: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to: NetworkPolicyPeer[];
  ports: NetworkPolicyPort[];
}

export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: { name: string; namespace: string; labels: Labels; annotations: Labels };
  spec: {
    podSelector: LabelSelector;
    policyTypes: ['Ingress', 'Egress'];
    ingress: NetworkPolicyIngressRule[];
    egress: NetworkPolicyEgressRule[];
  };
}

/** Labels that controllers stamp per revision or per pod: selecting on them would miss the next rollout. */
export const UNSTABLE_LABELS: ReadonlySet<string> = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'batch.kubernetes.io/controller-uid',
  'batch.kubernetes.io/job-name',
  'controller-uid',
  'job-name',
]);

/** What kubeadm, kind, k3s and the managed clusters call their DNS; used when the log names none. */
export const DEFAULT_DNS: DnsIdentity = {
  namespace: 'kube-system',
  name: 'kube-dns',
  selector: { 'k8s-app': 'kube-dns' },
};

export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'kubectl-harden' };
export const WORKLOAD_ANNOTATION = 'harden.dev/workload';

/** The labels worth selecting on, sorted by key. */
export function stableLabels(labels: Labels): Labels {
  return sortedLabels(labels, (k) => !UNSTABLE_LABELS.has(k));
}

function sortedLabels(labels: Labels, keep: (key: string) => boolean = () => true): Labels {
  const out: Labels = {};
  for (const k of Object.keys(labels).sort()) if (keep(k)) out[k] = labels[k];
  return out;
}

function isEmpty(labels: Labels): boolean {
  return Object.keys(labels).length === 0;
}

/** A single address; an IPv4-mapped IPv6 address (a dual-stack socket's view) is the IPv4 packet it was. */
export function hostCidr(ip: string): string {
  const addr = unmapIPv4(ip);
  return addr.includes(':') ? `${addr}/128` : `${addr}/32`;
}

function ipBlock(ip: string): NetworkPolicyPeer {
  return { ipBlock: { cidr: hostCidr(ip) } };
}

/** Pods by labels; a namespaceSelector only when they live outside the policy's own namespace. */
function selectorPeer(policyNamespace: string, namespace: string, matchLabels: Labels): NetworkPolicyPeer {
  const podSelector = { matchLabels: sortedLabels(matchLabels) };
  if (namespace === policyNamespace) return { podSelector };
  return { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } }, podSelector };
}

interface RuleAcc {
  peers: NetworkPolicyPeer[];
  /** "TCP/80" → port; a set keyed by protocol and port, since TCP/53 and UDP/53 are different rules. */
  ports: Map<string, NetworkPolicyPort>;
}

type Rules = Map<string, RuleAcc>;

/** What a flow contributes to: the rule's peers, its key, and the port (undefined: the flow's own). */
interface Grant {
  /** The peers' JSON, built with sorted keys: a canonical identity, and the rules' sort key. */
  key: string;
  peers: NetworkPolicyPeer[];
  port?: number | string;
}

/** 'by-address': the peer is known only by the address it used, the flow's remoteIP. */
type Grants = Grant[] | 'by-address';

function grant(peers: NetworkPolicyPeer[], port?: number | string): Grant {
  return { key: JSON.stringify(peers), peers, port };
}

interface WorkloadAcc {
  namespace: string;
  kind: string;
  name: string;
  /** Stable labels every observed pod of the workload shares: the policy's podSelector. */
  labels: Labels;
  ingress: Rules;
  egress: Rules;
  /** A peer's grants depend only on it and this namespace: computed once per identity object. */
  grants: WeakMap<Peer, Grants>;
}

function addRule(rules: Rules, g: Grant, protocol: Protocol, port: number | string): void {
  let rule = rules.get(g.key);
  if (!rule) {
    rule = { peers: g.peers, ports: new Map() };
    rules.set(g.key, rule);
  }
  const portKey = `${protocol}/${port}`;
  if (!rule.ports.has(portKey)) rule.ports.set(portKey, { protocol, port });
}

export class PolicySynthesizer {
  private readonly workloads = new Map<string, WorkloadAcc>();
  /** Flows of one log share target objects when it defines them once (target lines): look up once. */
  private readonly targets = new WeakMap<TargetPod, WorkloadAcc>();
  /** By address: as many as there are ipBlock rules. */
  private readonly ipGrants = new Map<string, Grant>();
  private readonly noteSet = new Set<string>();
  private flowCount = 0;

  /** dns: the cluster DNS Service from the log header; null falls back to DEFAULT_DNS (with a note). */
  constructor(private dns: DnsIdentity | null = null) {}

  /** A later header (concatenated logs) may know the DNS Service when the first did not. */
  learnDns(dns: DnsIdentity | null): void {
    if (this.dns === null) this.dns = dns;
  }

  get flows(): number {
    return this.flowCount;
  }

  /** Things the operator should know (assumptions, traffic no rule could express), sorted; complete after policies(). */
  notes(): string[] {
    return [...this.noteSet].sort();
  }

  add(flow: Flow): void {
    this.flowCount++;
    const w = this.workload(flow.target);
    const ingress = flow.direction === 'ingress';
    const rules = ingress ? w.ingress : w.egress;
    // Ingress is allowed on the target's own port, egress on the peer's.
    const port = ingress ? flow.localPort : flow.remotePort;
    const peer = flow.peer;
    // Node-to-pod traffic is kubelet probes and the like, which implementations let through anyway.
    if (peer.kind === 'node' && ingress) return;
    let grants = w.grants.get(peer);
    if (!grants) {
      grants = this.grants(w.namespace, peer);
      w.grants.set(peer, grants);
    }
    if (grants === 'by-address') addRule(rules, this.ipGrant(flow.remoteIP), flow.proto, port);
    else for (const g of grants) addRule(rules, g, flow.proto, g.port ?? port);
  }

  policies(): NetworkPolicy[] {
    const dns = this.dns ?? DEFAULT_DNS;
    if (this.dns === null && this.workloads.size > 0)
      this.note(
        `the log names no cluster DNS service; DNS is allowed to pods labelled ${labelText(dns.selector)} in ${dns.namespace}`,
      );
    const taken = new Map<string, number>();
    for (const w of this.workloads.values()) {
      const k = `${w.namespace}/${w.name}`;
      taken.set(k, (taken.get(k) ?? 0) + 1);
    }
    const out: NetworkPolicy[] = [];
    for (const w of this.workloads.values()) {
      if (isEmpty(w.labels)) {
        this.note(
          `${w.namespace}/${w.kind} ${w.name}: its pods share no stable label to select them by; no policy for it`,
        );
        continue;
      }
      // Two workloads of different kinds may share a name; the kind then keeps the policy names apart.
      const base =
        (taken.get(`${w.namespace}/${w.name}`) ?? 0) > 1 ? `${w.name}-${w.kind.toLowerCase()}` : w.name;
      const egress = withDns(w.egress, grant([selectorPeer(w.namespace, dns.namespace, dns.selector)]));
      out.push({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: {
          name: `${base}-harden`,
          namespace: w.namespace,
          labels: { ...MANAGED_BY },
          annotations: { [WORKLOAD_ANNOTATION]: `${w.kind}/${w.name}` },
        },
        spec: {
          podSelector: { matchLabels: { ...w.labels } },
          policyTypes: ['Ingress', 'Egress'],
          ingress: renderRules(w.ingress).map(([from, ports]) => ({ from, ports })),
          egress: renderRules(egress).map(([to, ports]) => ({ to, ports })),
        },
      });
    }
    out.sort(
      (a, b) =>
        compare(a.metadata.namespace, b.metadata.namespace) || compare(a.metadata.name, b.metadata.name),
    );
    // Rules share peer objects with the accumulator and each other; the caller gets its own.
    return structuredClone(out);
  }

  private note(text: string): void {
    this.noteSet.add(text);
  }

  private workload(t: TargetPod): WorkloadAcc {
    const known = this.targets.get(t);
    if (known) return known;
    const kind = t.owner?.kind ?? 'Pod';
    const name = t.owner?.name ?? t.name;
    const key = `${t.namespace}\0${kind}\0${name}`;
    let w = this.workloads.get(key);
    if (!w) {
      w = {
        namespace: t.namespace,
        kind,
        name,
        labels: stableLabels(t.labels),
        ingress: new Map(),
        egress: new Map(),
        grants: new WeakMap(),
      };
      this.workloads.set(key, w);
    } else {
      // Keep only what every replica carries, so the selector matches all of them.
      for (const k in w.labels) if (t.labels[k] !== w.labels[k]) delete w.labels[k];
    }
    this.targets.set(t, w);
    return w;
  }

  private ipGrant(ip: string): Grant {
    let g = this.ipGrants.get(ip);
    if (!g) {
      g = grant([ipBlock(ip)]);
      this.ipGrants.set(ip, g);
    }
    return g;
  }

  /** The rules a peer's traffic belongs to ([]: none can express it). */
  private grants(policyNamespace: string, p: Peer): Grants {
    switch (p.kind) {
      case 'node':
      case 'external':
        return 'by-address';
      case 'pod':
        return this.podGrants(policyNamespace, p);
      case 'service':
        return this.serviceGrants(policyNamespace, p);
    }
  }

  private podGrants(policyNamespace: string, p: PodPeer): Grants {
    // A hostNetwork pod sends with the node's address, which no podSelector matches.
    if (p.hostNetwork) return 'by-address';
    const labels = stableLabels(p.labels);
    if (!isEmpty(labels)) return [grant([selectorPeer(policyNamespace, p.namespace, labels)])];
    this.note(
      `pod ${p.namespace}/${p.name} has no stable labels; it is allowed by its address, which may change`,
    );
    return 'by-address';
  }

  private serviceGrants(policyNamespace: string, s: ServicePeer): Grant[] {
    if (!isSelectorless(s.selector)) {
      // The ClusterIP is DNATed to the selected pods, where the policy sees the target port.
      return [grant([selectorPeer(policyNamespace, s.namespace, s.selector as Labels)], s.targetPort)];
    }
    const endpoints = s.endpoints ?? [];
    if (endpoints.length === 0) {
      this.note(
        `service ${s.namespace}/${s.name} has no selector and no endpoints; its traffic gets no rule`,
      );
      return [];
    }
    // One rule per endpoint port, listing the endpoints that serve on it.
    const byPort = new Map<number, Set<string>>();
    for (const e of endpoints) {
      const cidrs = byPort.get(e.port) ?? new Set<string>();
      cidrs.add(hostCidr(e.ip));
      byPort.set(e.port, cidrs);
    }
    return [...byPort].map(([port, cidrs]) =>
      grant(
        [...cidrs].sort().map((cidr) => ({ ipBlock: { cidr } })),
        port,
      ),
    );
  }
}

/** Egress always reaches the cluster DNS pods on 53/UDP and 53/TCP; a copy, the accumulator stays as it was. */
function withDns(egress: Rules, dns: Grant): Rules {
  const out = new Map(egress);
  const observed = out.get(dns.key);
  if (observed) out.set(dns.key, { peers: observed.peers, ports: new Map(observed.ports) });
  for (const proto of ['UDP', 'TCP'] as const) addRule(out, dns, proto, 53);
  return out;
}

function renderRules(rules: Rules): [NetworkPolicyPeer[], NetworkPolicyPort[]][] {
  return [...rules.entries()]
    .sort(([a], [b]) => compare(a, b))
    .map(([, r]) => [r.peers, [...r.ports.values()].sort(comparePorts)]);
}

/** Numbers before names, ascending; then TCP before UDP. */
function comparePorts(a: NetworkPolicyPort, b: NetworkPolicyPort): number {
  const an = typeof a.port === 'number';
  const bn = typeof b.port === 'number';
  if (an !== bn) return an ? -1 : 1;
  const byPort = an ? (a.port as number) - (b.port as number) : compare(String(a.port), String(b.port));
  return byPort || compare(a.protocol, b.protocol);
}

/** Code-unit order: the same in every locale, unlike localeCompare. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function labelText(labels: Labels): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
