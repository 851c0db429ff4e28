import {
  isSelectorless,
  type DnsIdentity,
  type FlowLine,
  type Labels,
  type PodPeer,
  type Protocol,
  type ServicePeer,
} from './log';

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
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return `${mapped[1]}/32`;
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
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

interface WorkloadAcc {
  namespace: string;
  kind: string;
  name: string;
  /** Stable labels every observed pod of the workload shares: the policy's podSelector. */
  labels: Labels;
  ingress: Rules;
  egress: Rules;
}

function addRule(rules: Rules, peers: NetworkPolicyPeer[], protocol: Protocol, port: number | string): void {
  // The peers are built with sorted keys, so their JSON is a canonical identity (and the sort key).
  const key = JSON.stringify(peers);
  let rule = rules.get(key);
  if (!rule) {
    rule = { peers, ports: new Map() };
    rules.set(key, rule);
  }
  const portKey = `${protocol}/${port}`;
  if (!rule.ports.has(portKey)) rule.ports.set(portKey, { protocol, port });
}

export class PolicySynthesizer {
  private readonly workloads = new Map<string, WorkloadAcc>();
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

  add(flow: FlowLine): void {
    this.flowCount++;
    const w = this.workload(flow);
    const ingress = flow.direction === 'ingress';
    const rules = ingress ? w.ingress : w.egress;
    // Ingress is allowed on the target's own port, egress on the peer's.
    const port = ingress ? flow.localPort : flow.remotePort;
    const peer = flow.peer;
    switch (peer.kind) {
      case 'node':
        // Node-to-pod traffic is kubelet probes and the like, which implementations let through anyway.
        if (!ingress) addRule(rules, [ipBlock(flow.remoteIP)], flow.proto, port);
        return;
      case 'external':
        addRule(rules, [ipBlock(flow.remoteIP)], flow.proto, port);
        return;
      case 'pod':
        addRule(rules, [this.podPeer(w.namespace, peer, flow.remoteIP)], flow.proto, port);
        return;
      case 'service':
        this.addService(rules, w.namespace, peer, flow.proto);
        return;
    }
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
      const egress = withDns(w.egress, [selectorPeer(w.namespace, dns.namespace, dns.selector)]);
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
          podSelector: { matchLabels: w.labels },
          policyTypes: ['Ingress', 'Egress'],
          ingress: renderRules(w.ingress).map(([from, ports]) => ({ from, ports })),
          egress: renderRules(egress).map(([to, ports]) => ({ to, ports })),
        },
      });
    }
    return out.sort(
      (a, b) =>
        compare(a.metadata.namespace, b.metadata.namespace) || compare(a.metadata.name, b.metadata.name),
    );
  }

  private note(text: string): void {
    this.noteSet.add(text);
  }

  private workload(flow: FlowLine): WorkloadAcc {
    const t = flow.target;
    const kind = t.owner?.kind ?? 'Pod';
    const name = t.owner?.name ?? t.name;
    const key = `${t.namespace}\0${kind}\0${name}`;
    const w = this.workloads.get(key);
    if (!w) {
      const created = {
        namespace: t.namespace,
        kind,
        name,
        labels: stableLabels(t.labels),
        ingress: new Map(),
        egress: new Map(),
      };
      this.workloads.set(key, created);
      return created;
    }
    // Keep only what every replica carries, so the selector matches all of them.
    for (const k in w.labels) if (t.labels[k] !== w.labels[k]) delete w.labels[k];
    return w;
  }

  private podPeer(policyNamespace: string, p: PodPeer, ip: string): NetworkPolicyPeer {
    // A hostNetwork pod sends with the node's address, which no podSelector matches.
    if (p.hostNetwork) return ipBlock(ip);
    const labels = stableLabels(p.labels);
    if (!isEmpty(labels)) return selectorPeer(policyNamespace, p.namespace, labels);
    this.note(
      `pod ${p.namespace}/${p.name} has no stable labels; it is allowed by its address ${ip}, which may change`,
    );
    return ipBlock(ip);
  }

  private addService(rules: Rules, policyNamespace: string, s: ServicePeer, proto: Protocol): void {
    if (!isSelectorless(s.selector)) {
      // The ClusterIP is DNATed to the selected pods, where the policy sees the target port.
      addRule(rules, [selectorPeer(policyNamespace, s.namespace, s.selector as Labels)], proto, s.targetPort);
      return;
    }
    const endpoints = s.endpoints ?? [];
    if (endpoints.length === 0) {
      this.note(
        `service ${s.namespace}/${s.name} has no selector and no endpoints; its traffic gets no rule`,
      );
      return;
    }
    // One rule per endpoint port, listing the endpoints that serve on it.
    const byPort = new Map<number, Set<string>>();
    for (const e of endpoints) {
      const cidrs = byPort.get(e.port) ?? new Set<string>();
      cidrs.add(hostCidr(e.ip));
      byPort.set(e.port, cidrs);
    }
    for (const [port, cidrs] of byPort) {
      addRule(
        rules,
        [...cidrs].sort().map((cidr) => ({ ipBlock: { cidr } })),
        proto,
        port,
      );
    }
  }
}

/** Egress always reaches the cluster DNS pods on 53/UDP and 53/TCP; a copy, the accumulator stays as it was. */
function withDns(egress: Rules, dnsPeers: NetworkPolicyPeer[]): Rules {
  const out = new Map(egress);
  const key = JSON.stringify(dnsPeers);
  const observed = out.get(key);
  if (observed) out.set(key, { peers: observed.peers, ports: new Map(observed.ports) });
  for (const proto of ['UDP', 'TCP'] as const) addRule(out, dnsPeers, proto, 53);
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
