import { foldAddresses } from './aggregate';
import {
  FlowLogError,
  isSelectorless,
  type DnsIdentity,
  type Flow,
  type LabelSelector,
  type Labels,
  type Peer,
  type PodPeer,
  type Protocol,
  type ServiceEndpoint,
  type ServicePeer,
  type TargetPod,
} from './log';
import { labelKeyProblem, labelValueProblem } from '../labels';
import { policyName, shortHash } from './names';
import { formatCidr, parseAddress } from './cidr';

export type { LabelSelector };

/**
 * Flows in, policies out. Pure and streaming: `add` folds one flow into per-workload rule sets
 * keyed by peer identity and port, so memory grows with the number of distinct rules, never with
 * the number of flows. `workloads()` gives each workload's rules in a neutral form (the meaning),
 * which `toNetworkPolicy` here and `toCiliumPolicy` (cilium.ts) render; all output is sorted, so
 * two runs diff cleanly.
 */

/** How an address relates to the target's node: only its own node is exempt from policy. */
export type NodeRelation = 'own' | 'other' | 'unknown';

/** Who a rule allows, before it is spelled for one policy API. */
export type PolicyPeer =
  | { kind: 'pods'; namespace: string; selector: LabelSelector }
  /**
   * node: the address is a node's (hostNetwork pods, SNAT); external: outside the cluster;
   * apiserver: an endpoint of default/kubernetes, the Kubernetes API.
   */
  | { kind: 'cidr'; cidr: string; node?: NodeRelation; external?: boolean; apiserver?: true };

export interface PolicyPort {
  protocol: Protocol;
  /** A number, or a named container port of the selected pods. */
  port: number | string;
}

export interface PolicyRule {
  peers: PolicyPeer[];
  ports: PolicyPort[];
  /** The cluster DNS rule (Cilium adds its DNS proxy rule to it). */
  dns?: true;
}

/** One workload's policy, in neither API's spelling. */
export interface WorkloadPolicy {
  /** The object name, ≤ 253 characters, DNS-1123, unique in its namespace. */
  name: string;
  namespace: string;
  workload: { kind: string; name: string };
  /** Every workload the policy is for, when several select the same pods (sorted). */
  workloads?: { kind: string; name: string }[];
  selector: LabelSelector;
  ingress: PolicyRule[];
  egress: PolicyRule[];
}

export interface NetworkPolicyPeer {
  namespaceSelector?: LabelSelector;
  podSelector?: LabelSelector;
  ipBlock?: { cidr: string };
}

export type NetworkPolicyPort = PolicyPort;

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

export interface SynthesisOptions {
  /** Fold a rule's external addresses into at most AGGREGATE_MAX CIDRs per family. */
  aggregate?: boolean;
}

/**
 * Labels that change with a release, a rollout or a pod (a denylist: what is left selects the
 * workload across its upgrades). Used only when the log lacks the workload's own selector.
 */
export const UNSTABLE_LABELS: ReadonlySet<string> = new Set([
  'pod-template-hash',
  'rollouts-pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'batch.kubernetes.io/controller-uid',
  'batch.kubernetes.io/job-name',
  'batch.kubernetes.io/job-completion-index',
  'controller-uid',
  'job-name',
  'helm.sh/chart',
  'chart',
  'app.kubernetes.io/version',
  'version',
  'service.istio.io/canonical-revision',
  'skaffold.dev/run-id',
]);

/** Their like: any prefix's `…/version`, `…/revision`, `…-hash` (e.g. argo's, flux's). */
const UNSTABLE_KEY = /(^|\/)(version|revision)$|-hash$/;

export function isUnstableLabel(key: string): boolean {
  return UNSTABLE_LABELS.has(key) || UNSTABLE_KEY.test(key);
}

/** What kubeadm, kind, k3s and the managed clusters call their DNS; used when the log names none. */
export const DEFAULT_DNS: DnsIdentity = {
  namespace: 'kube-system',
  name: 'kube-dns',
  selector: { 'k8s-app': 'kube-dns' },
};

/** NodeLocal DNSCache's documented link-local address: pods using it never reach kube-dns itself. */
export const NODE_LOCAL_DNS = '169.254.20.10';

/** Per rule and family, the CIDRs --aggregate folds external addresses into. */
export const AGGREGATE_MAX = 16;
/** Past this many external addresses in one policy, a note suggests --aggregate. */
export const EXTERNAL_NOTE_AT = 50;

export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'kubectl-harden' };
export const WORKLOAD_ANNOTATION = 'harden.dev/workload';

/** The labels worth selecting on, sorted by key. */
export function stableLabels(labels: Labels): Labels {
  return sortedLabels(labels, (k) => !isUnstableLabel(k));
}

function sortedLabels(labels: Labels, keep: (key: string) => boolean = () => true): Labels {
  const out: Labels = {};
  for (const k of Object.keys(labels).sort()) if (keep(k)) out[k] = labels[k];
  return out;
}

/** A selector with sorted keys, so equal selectors print (and key) alike. */
function canonicalSelector(s: LabelSelector): LabelSelector {
  const out: LabelSelector = {};
  if (s.matchLabels && Object.keys(s.matchLabels).length) out.matchLabels = sortedLabels(s.matchLabels);
  if (s.matchExpressions?.length)
    out.matchExpressions = [...s.matchExpressions]
      .map((e) => (e.values ? { ...e, values: [...e.values].sort() } : { ...e }))
      .sort((a, b) => compare(JSON.stringify(a), JSON.stringify(b)));
  return out;
}

function selectsSomething(s: LabelSelector): boolean {
  return Boolean(s.matchLabels && Object.keys(s.matchLabels).length) || Boolean(s.matchExpressions?.length);
}

/**
 * A single address, spelled as verify parses it: an IPv4-mapped IPv6 address in any spelling (a
 * dual-stack socket's view) is the IPv4 packet it was, and IPv6 is canonical, so one address is
 * one ipBlock of the family its packets have.
 */
export function hostCidr(ip: string): string {
  const addr = parseAddress(ip);
  if (!addr) return `${ip}/${ip.includes(':') ? 128 : 32}`; // not an address: left for the API to refuse
  const bits = addr.family === 4 ? 32 : 128;
  return formatCidr(addr.value, bits, bits);
}

/** One peer's traffic, and the port it is allowed on (undefined: the flow's own). */
interface Grant {
  /** The peer's JSON, built with sorted keys: a canonical identity, and the rules' sort key. */
  key: string;
  peer: PolicyPeer;
  port?: number | string;
}

/** 'by-address': the peer is known only by the address it used, the flow's remoteIP. */
type Grants = Grant[] | 'by-address';

function grant(peer: PolicyPeer, port?: number | string): Grant {
  return { key: JSON.stringify(peer), peer, port };
}

interface PeerPorts {
  peer: PolicyPeer;
  /** "TCP/80" → port: TCP/53 and UDP/53 are different ports. */
  ports: Map<string, PolicyPort>;
}

type Rules = Map<string, PeerPorts>;

interface WorkloadAcc {
  namespace: string;
  kind: string;
  name: string;
  /** The workloads merged into this one because they select the same pods. */
  members?: { kind: string; name: string }[];
  /** The workload's own selector, when the log recorded it. */
  selector?: LabelSelector;
  /** Stable labels every observed pod of the workload shares: the fallback selector. */
  labels: Labels;
  ingress: Rules;
  egress: Rules;
  /** Peers that answered on port 53, and the ports they did: all go into the DNS rule. */
  dnsPeers: Map<string, PolicyPeer>;
  /** Ports it asked resolvers on, by `protocol/port`: a number in both protocols, a name in its own. */
  dnsPorts: Map<string, PolicyPort>;
  /** A peer's grants depend only on it and this namespace: computed once per identity object. */
  grants: WeakMap<Peer, Grants>;
}

function addPort(rules: Rules, g: Grant, protocol: Protocol, port: number | string): void {
  let r = rules.get(g.key);
  if (!r) {
    r = { peer: g.peer, ports: new Map() };
    rules.set(g.key, r);
  }
  const portKey = `${protocol}/${port}`;
  if (!r.ports.has(portKey)) r.ports.set(portKey, { protocol, port });
}

export class PolicySynthesizer {
  private readonly accs = new Map<string, WorkloadAcc>();
  /** Flows of one log share target objects when it defines them once (target lines): look up once. */
  private readonly targets = new WeakMap<TargetPod, WorkloadAcc>();
  /** By address and node relation: as many as there are ipBlock rules. */
  private readonly ipGrants = new Map<string, Grant>();
  /** hostCidr of the ClusterIPs DNS was asked at, per flow: parsed once each. */
  private readonly cidrs = new Map<string, string>();
  private readonly noteSet = new Set<string>();
  private flowCount = 0;

  /** dns: the cluster DNS Service from the log header; null falls back to DEFAULT_DNS (with a note). */
  constructor(
    private dns: DnsIdentity | null = null,
    private readonly opts: SynthesisOptions = {},
  ) {}

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
    const t = flow.target;
    const w = this.workload(t);
    const ingress = flow.direction === 'ingress';
    const rules = ingress ? w.ingress : w.egress;
    // Ingress is allowed on the target's own port, egress on the peer's.
    const port = ingress ? flow.localPort : flow.remotePort;
    const peer = flow.peer;
    if (peer.kind === 'node' && ingress && this.isOwnNodeProbe(w, t, peer.name)) return;
    let grants = w.grants.get(peer);
    if (!grants) {
      grants = this.grants(w, peer);
      w.grants.set(peer, grants);
    }
    const list =
      grants === 'by-address' ? [this.addressGrant(w, t, peer, flow.remoteIP)] : (grants as Grant[]);
    // Whatever answers on 53 is a resolver: it gets the whole DNS rule (both protocols).
    if (!ingress && flow.remotePort === 53) {
      for (const g of list) {
        if (!w.dnsPeers.has(g.key)) addDnsPeer(w.dnsPeers, g.peer, g.key);
        const p = g.port ?? port;
        // A named port is the pods' port of that name and protocol: OpenShift's DNS pods name their
        // UDP port dns and their TCP port dns-tcp, so a name seen over UDP says nothing of TCP.
        addDnsPort(w.dnsPorts, p, typeof p === 'number' ? BOTH : [flow.proto]);
      }
      // NodeLocal DNSCache (kube-proxy iptables mode) answers at the DNS Service's ClusterIP on the
      // node itself, without DNAT: only that address matches the query, not the Service's pods.
      if (peer.kind === 'service') addDnsPeer(w.dnsPeers, { kind: 'cidr', cidr: this.cidrOf(flow.remoteIP) });
      return;
    }
    for (const g of list) addPort(rules, g, flow.proto, g.port ?? port);
    // Between two pods of this workload the one policy isolates both ends: the flow needs its
    // egress and its ingress, though an untraced replica's side of it is not in the log.
    if (isSameWorkload(t, peer)) {
      const mirror = ingress ? w.egress : w.ingress;
      for (const g of list) if (g.peer.kind === 'pods') addPort(mirror, g, flow.proto, g.port ?? port);
    }
  }

  /** The rules of every workload, sorted by namespace and name. */
  workloads(): WorkloadPolicy[] {
    const dns = this.dns ?? DEFAULT_DNS;
    if (this.dns === null && this.accs.size > 0)
      this.note(
        `the log names no cluster DNS service; DNS is allowed to pods labelled ${labelText(dns.selector)} in ${dns.namespace}`,
      );
    const selecting = [...this.accs.values()].filter((w) => {
      if (selectsSomething(this.selectorOf(w))) return true;
      this.note(
        `${w.namespace}/${w.kind} ${w.name}: its pods share no stable label to select them by; no policy for it`,
      );
      return false;
    });
    const kept = this.mergeSameSelector(selecting);
    const names = policyNames(kept);
    const out = kept.map((w) => this.render(w, names.get(w) as string, dns));
    out.sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name));
    // Rules share peer objects with the accumulator and each other; the caller gets its own.
    return structuredClone(out);
  }

  policies(): NetworkPolicy[] {
    return this.workloads().map(toNetworkPolicy);
  }

  private cidrOf(ip: string): string {
    let c = this.cidrs.get(ip);
    if (c === undefined) {
      c = hostCidr(ip);
      this.cidrs.set(ip, c);
    }
    return c;
  }

  private note(text: string): void {
    this.noteSet.add(text);
  }

  /**
   * Workloads whose policies would select the same pods (two runs of one CronJob in a log written
   * before monitor named the CronJob; one static pod per node) become one policy: two with one
   * selector would each allow what all did anyway, as NetworkPolicies add up. Only equal
   * selectors merge, never a broader one.
   */
  private mergeSameSelector(ws: WorkloadAcc[]): WorkloadAcc[] {
    const groups = new Map<string, WorkloadAcc[]>();
    for (const w of ws) {
      const k = `${w.namespace}\0${JSON.stringify(this.selectorOf(w))}`;
      groups.set(k, [...(groups.get(k) ?? []), w]);
    }
    return [...groups.values()].map((group) => {
      if (group.length === 1) return group[0];
      const members = group
        .map((w) => ({ kind: w.kind, name: w.name }))
        .sort((a, b) => compare(a.kind, b.kind) || compare(a.name, b.name));
      const kinds = new Set(members.map((m) => m.kind));
      const merged: WorkloadAcc = {
        ...group[0],
        kind: kinds.size === 1 ? members[0].kind : 'Workload',
        name: commonName(members.map((m) => m.name)),
        members,
        selector: this.selectorOf(group[0]),
        ingress: new Map(),
        egress: new Map(),
        dnsPeers: new Map(),
        dnsPorts: new Map(),
      };
      for (const w of group) {
        for (const dir of ['ingress', 'egress'] as const)
          for (const [key, r] of w[dir])
            for (const p of r.ports.values()) addPort(merged[dir], { key, peer: r.peer }, p.protocol, p.port);
        for (const [key, p] of w.dnsPeers) merged.dnsPeers.set(key, p);
        for (const [key, p] of w.dnsPorts) merged.dnsPorts.set(key, p);
      }
      const names = members.map((m) => `${m.kind} ${m.name}`);
      this.note(
        `${merged.namespace}: ${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} select the same pods; one policy, ${policyName([merged.name])}, allows what all of them did`,
      );
      return merged;
    });
  }

  private render(w: WorkloadAcc, name: string, dns: DnsIdentity): WorkloadPolicy {
    const policy = this.rules(w, name, dns);
    checkLabels(policy);
    return policy;
  }

  private selectorOf(w: WorkloadAcc): LabelSelector {
    return w.selector ? canonicalSelector(w.selector) : { matchLabels: { ...w.labels } };
  }

  private rules(w: WorkloadAcc, name: string, dns: DnsIdentity): WorkloadPolicy {
    const title = `${w.namespace}/${w.kind} ${w.name}`;
    const dnsRule = this.dnsRule(w, dns);
    const ingress = mergeRules(w.ingress);
    const egress = mergeRules(w.egress);
    let external = 0;
    for (const r of [...ingress, ...egress]) external += r.peers.filter(isExternal).length;
    if (this.opts.aggregate) {
      for (const r of [...ingress, ...egress]) this.aggregate(r, title);
    } else if (external > EXTERNAL_NOTE_AT) {
      this.note(
        `${title}: its policy lists ${external} external addresses one by one; --aggregate folds them into CIDRs`,
      );
    }
    return {
      name,
      namespace: w.namespace,
      workload: { kind: w.kind, name: w.name },
      ...(w.members ? { workloads: w.members } : {}),
      selector: this.selectorOf(w),
      ingress,
      egress: [dnsRule, ...egress],
    };
  }

  /** kube-dns's pods, NodeLocal DNSCache, and whatever the target asked on 53: TCP and UDP both. */
  private dnsRule(w: WorkloadAcc, dns: DnsIdentity): PolicyRule {
    const peers = new Map(w.dnsPeers);
    addDnsPeer(peers, {
      kind: 'pods',
      namespace: dns.namespace,
      selector: { matchLabels: sortedLabels(dns.selector) },
    });
    addDnsPeer(peers, { kind: 'cidr', cidr: hostCidr(NODE_LOCAL_DNS) });
    // Truncated answers are retried over TCP, so every numbered DNS port is allowed in both
    // protocols; a named one only in its own (above).
    const ports = new Map<string, PolicyPort>();
    for (const port of [53, ...(dns.ports ?? [])]) addDnsPort(ports, port, BOTH);
    for (const [key, p] of w.dnsPorts) ports.set(key, p);
    return {
      peers: [...peers.entries()].sort(([a], [b]) => compare(a, b)).map(([, p]) => p),
      ports: [...ports.values()].sort(comparePorts),
      dns: true,
    };
  }

  private aggregate(rule: PolicyRule, title: string): void {
    const external = rule.peers.filter(isExternal);
    const folded = foldAddresses(
      external.map((p) => (p as { cidr: string }).cidr),
      AGGREGATE_MAX,
    );
    if (folded.length === external.length) return;
    // The CIDR that spans the most of its family's space, to show how far the folding went.
    const span = (c: string) => (c.includes(':') ? 128 : 32) - Number(c.split('/')[1]);
    const widest = folded.reduce((a, b) => (span(b) > span(a) ? b : a));
    this.note(
      `${title}: ${external.length} external addresses folded into ${folded.length} CIDRs (widest ${widest}); they allow more than was seen`,
    );
    rule.peers = [
      ...rule.peers.filter((p) => !isExternal(p)),
      ...folded.map((cidr): PolicyPeer => ({ kind: 'cidr', cidr, external: true })),
    ];
  }

  /**
   * Traffic from the target's own node is exempt from NetworkPolicy (kubelet probes): dropped.
   * An older log does not say which node the pod ran on; every node address is then taken for its own.
   */
  private isOwnNodeProbe(w: WorkloadAcc, t: TargetPod, node: string): boolean {
    if (t.node === undefined) {
      this.note(
        `${w.namespace}/${w.kind} ${w.name}: the log does not say which node its pods ran on; ingress from node addresses was taken for kubelet probes and got no rule`,
      );
      return true;
    }
    return t.node === node;
  }

  private workload(t: TargetPod): WorkloadAcc {
    const known = this.targets.get(t);
    if (known) return known;
    const owner = workloadOwner(t);
    const kind = owner?.kind ?? 'Pod';
    const name = owner?.name ?? t.name;
    const key = `${t.namespace}\0${kind}\0${name}`;
    let w = this.accs.get(key);
    if (!w) {
      w = {
        namespace: t.namespace,
        kind,
        name,
        selector: t.selector,
        labels: stableLabels(t.labels),
        ingress: new Map(),
        egress: new Map(),
        dnsPeers: new Map(),
        dnsPorts: new Map(),
        grants: new WeakMap(),
      };
      this.accs.set(key, w);
    } else {
      w.selector ??= t.selector;
      // Keep only what every replica carries, so the selector matches all of them.
      for (const k in w.labels) if (t.labels[k] !== w.labels[k]) delete w.labels[k];
    }
    this.targets.set(t, w);
    return w;
  }

  /** An address peer: a node's (hostNetwork, SNAT), an unlabelled pod's or an external one. */
  private addressGrant(w: WorkloadAcc, t: TargetPod, p: Peer, ip: string): Grant {
    let node: NodeRelation | undefined;
    if (p.kind === 'node') node = relation(t.node, p.name);
    else if (p.kind === 'pod' && p.hostNetwork) node = relation(t.node, p.node);
    if (p.kind === 'node' && node === 'other')
      this.note(
        `${w.namespace}/${w.kind} ${w.name}: traffic with node ${p.name} (${ip}) is allowed by that node's address: a hostNetwork pod there, or NodePort/LoadBalancer traffic the node SNATed`,
      );
    if (p.kind === 'pod' && node === 'other')
      this.note(
        `${w.namespace}/${w.kind} ${w.name}: traffic with hostNetwork pod ${p.namespace}/${p.name} on node ${p.node} (${ip}) is allowed by that node's address, which every hostNetwork pod and process of ${p.node} shares`,
      );
    const key = `${ip}|${node ?? ''}|${p.kind}`;
    let g = this.ipGrants.get(key);
    if (!g) {
      const peer: PolicyPeer = { kind: 'cidr', cidr: hostCidr(ip) };
      if (node) peer.node = node;
      if (p.kind === 'external') peer.external = true;
      g = grant(peer);
      this.ipGrants.set(key, g);
    }
    return g;
  }

  /** The rules a peer's traffic belongs to ([]: none can express it). */
  private grants(w: WorkloadAcc, p: Peer): Grants {
    switch (p.kind) {
      case 'node':
      case 'external':
        return 'by-address';
      case 'pod':
        return this.podGrants(p);
      case 'service':
        return this.serviceGrants(w, p);
    }
  }

  private podGrants(p: PodPeer): Grants {
    // A hostNetwork pod sends with the node's address, which no podSelector matches.
    if (p.hostNetwork) return 'by-address';
    const selector = p.selector ? canonicalSelector(p.selector) : { matchLabels: stableLabels(p.labels) };
    // Reached on a hostPort: the policy sees the packet DNATed to the pod's container port.
    if (selectsSomething(selector))
      return [grant({ kind: 'pods', namespace: p.namespace, selector }, p.containerPort)];
    this.note(
      `pod ${p.namespace}/${p.name} has no stable labels; it is allowed by its address, which may change`,
    );
    return 'by-address';
  }

  private serviceGrants(w: WorkloadAcc, s: ServicePeer): Grant[] {
    // Endpoints on node addresses (hostNetwork pods) are reached there, not at a pod address.
    const host = endpointGrants(s.hostEndpoints ?? [], 'unknown');
    if (!isSelectorless(s.selector)) {
      // The ClusterIP is DNATed to the selected pods, where the policy sees the target port.
      const pods = grant(
        {
          kind: 'pods',
          namespace: s.namespace,
          selector: { matchLabels: sortedLabels(s.selector as Labels) },
        },
        s.targetPort,
      );
      return [pods, ...host];
    }
    const endpoints = s.endpoints ?? [];
    if (endpoints.length === 0 && host.length === 0) {
      this.note(
        `${w.namespace}/${w.kind} ${w.name}: service ${s.namespace}/${s.name} has no selector and no endpoints; its traffic gets no rule`,
      );
      return [];
    }
    const api = s.namespace === 'default' && s.name === 'kubernetes';
    // An endpoint a pod holds is that pod, selected by its workload's labels as any pod peer is: an
    // address would stop matching when the pod is replaced (or the leader moves to another replica).
    const byPod: Grant[] = [];
    const byAddress: ServiceEndpoint[] = [];
    for (const e of endpoints) {
      const grants = e.pod ? this.podGrants(e.pod) : 'by-address';
      if (grants === 'by-address') byAddress.push(e);
      else byPod.push(...grants.map((g) => ({ ...g, port: e.port })));
    }
    return [...byPod, ...endpointGrants(byAddress, undefined, api), ...host];
  }
}

const BOTH = ['TCP', 'UDP'] as const;

/** A DNS port in each of `protocols`, keyed `protocol/port` as rules' ports are. */
function addDnsPort(
  ports: Map<string, PolicyPort>,
  port: number | string,
  protocols: readonly Protocol[],
): void {
  for (const protocol of protocols) ports.set(`${protocol}/${port}`, { protocol, port });
}

/**
 * A resolver, once per address: a cidr is keyed by the address alone (seen as a node's, it keeps
 * that), and is never external, so --aggregate never widens the DNS rule.
 */
function addDnsPeer(peers: Map<string, PolicyPeer>, p: PolicyPeer, key = JSON.stringify(p)): void {
  if (p.kind !== 'cidr') {
    peers.set(key, p);
    return;
  }
  const known = peers.get(`cidr:${p.cidr}`) as { node?: NodeRelation } | undefined;
  const node = p.node ?? known?.node;
  peers.set(`cidr:${p.cidr}`, { kind: 'cidr', cidr: p.cidr, ...(node ? { node } : {}) });
}

/**
 * Labels no cluster would have given a pod (the API validates them) mean a hand-made or damaged
 * log; the API server would refuse the policy, so it is refused here, naming the label.
 */
function checkLabels(p: WorkloadPolicy): void {
  const selectors = [
    p.selector,
    ...[...p.ingress, ...p.egress].flatMap((r) => r.peers.map((x) => (x.kind === 'pods' ? x.selector : {}))),
  ];
  for (const s of selectors)
    for (const [k, v] of Object.entries(s.matchLabels ?? {}))
      if (labelKeyProblem(k) || labelValueProblem(k, v))
        throw new FlowLogError(
          0,
          `${p.namespace}/${p.workload.kind} ${p.workload.name}: label ${JSON.stringify(k)}=${JSON.stringify(v)} is not a valid Kubernetes label, so no policy can select by it`,
        );
}

/** A pod-network pod of the target's own workload (a bare pod is a workload of its own). */
function isSameWorkload(t: TargetPod, p: Peer): boolean {
  if (p.kind !== 'pod' || p.hostNetwork || p.namespace !== t.namespace) return false;
  const a = workloadOwner(t);
  const b = workloadOwner(p);
  return a !== null && b !== null && a.kind === b.kind && a.name === b.name;
}

/** Whether `node` is the pod's own node `own`, another, or (either unknown) cannot be told. */
export function relation(own: string | undefined, node: string | undefined): NodeRelation {
  if (own === undefined || node === undefined) return 'unknown';
  return own === node ? 'own' : 'other';
}

/**
 * One grant per endpoint address and port; node: the addresses are nodes' (hostNetwork endpoints);
 * apiserver: they serve the Kubernetes API.
 */
function endpointGrants(endpoints: ServiceEndpoint[], node?: NodeRelation, apiserver = false): Grant[] {
  return endpoints.map((e) =>
    grant(
      { kind: 'cidr', cidr: hostCidr(e.ip), ...(node ? { node } : {}), ...(apiserver ? { apiserver } : {}) },
      e.port,
    ),
  );
}

function isExternal(p: PolicyPeer): boolean {
  return p.kind === 'cidr' && p.external === true;
}

/** Peers allowed on the same ports share one rule; a rule's ports are sorted, its peers too. */
function mergeRules(rules: Rules): PolicyRule[] {
  const byPorts = new Map<string, { ports: PolicyPort[]; peers: [string, PolicyPeer][] }>();
  for (const [key, r] of rules) {
    const ports = [...r.ports.values()].sort(comparePorts);
    const sig = ports.map((p) => `${p.protocol}/${p.port}`).join(',');
    let group = byPorts.get(sig);
    if (!group) {
      group = { ports, peers: [] };
      byPorts.set(sig, group);
    }
    group.peers.push([key, r.peer]);
  }
  return [...byPorts.values()]
    .map((g) => ({ first: g.peers.map(([k]) => k).sort()[0], g }))
    .sort((a, b) => compare(a.first, b.first))
    .map(({ g }) => ({
      peers: g.peers.sort(([a], [b]) => compare(a, b)).map(([, p]) => p),
      ports: g.ports,
    }));
}

/**
 * Names for the kept workloads (sorted, so flow order does not matter): the kind is added where two
 * kinds share a name, and a hash where even that meets another (a Deployment "a-job", a Job "a").
 */
function policyNames(ws: WorkloadAcc[]): Map<WorkloadAcc, string> {
  const sorted = [...ws].sort(
    (a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name) || compare(a.kind, b.kind),
  );
  const shared = new Map<string, number>();
  for (const w of sorted)
    shared.set(`${w.namespace}/${w.name}`, (shared.get(`${w.namespace}/${w.name}`) ?? 0) + 1);
  const used = new Set<string>();
  const out = new Map<WorkloadAcc, string>();
  for (const w of sorted) {
    const parts = (shared.get(`${w.namespace}/${w.name}`) ?? 0) > 1 ? [w.name, w.kind] : [w.name];
    let name = policyName(parts);
    if (used.has(`${w.namespace}/${name}`)) name = policyName([...parts, shortHash(`${w.kind}/${w.name}`)]);
    used.add(`${w.namespace}/${name}`);
    out.set(w, name);
  }
  return out;
}

/**
 * The workload a traced pod belongs to: its owner at the top of the controller chain, or none (the
 * pod is its own). A log written before monitor knew static pods names their Node as owner: such
 * a pod is its own workload too, never one with the other static pods of its node.
 */
export function workloadOwner(t: Pick<TargetPod, 'owner'>): { kind: string; name: string } | null {
  return t.owner?.kind === 'Node' ? null : t.owner;
}

/** What names several workloads at once: their names' common leading words (backup-1, backup-2: backup). */
function commonName(names: string[]): string {
  const words = names.map((n) => n.split('-'));
  let n = 0;
  while (n < words[0].length && words.every((w) => w[n] === words[0][n])) n++;
  return words[0].slice(0, n).join('-') || names[0];
}

/** Name, namespace, and what made the policy and for which workloads: the same in every spelling. */
export function policyMetadata(w: WorkloadPolicy): NetworkPolicy['metadata'] {
  const workloads = w.workloads ?? [w.workload];
  return {
    name: w.name,
    namespace: w.namespace,
    labels: { ...MANAGED_BY },
    annotations: { [WORKLOAD_ANNOTATION]: workloads.map((x) => `${x.kind}/${x.name}`).join(',') },
  };
}

/** The Kubernetes NetworkPolicy spelling of a workload's rules. */
export function toNetworkPolicy(w: WorkloadPolicy): NetworkPolicy {
  const peer = (p: PolicyPeer): NetworkPolicyPeer => {
    if (p.kind === 'cidr') return { ipBlock: { cidr: p.cidr } };
    // A namespaceSelector only when the pods live outside the policy's own namespace.
    if (p.namespace === w.namespace) return { podSelector: p.selector };
    return {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': p.namespace } },
      podSelector: p.selector,
    };
  };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: policyMetadata(w),
    spec: {
      podSelector: w.selector,
      policyTypes: ['Ingress', 'Egress'],
      ingress: w.ingress.map((r) => ({ from: distinct(r.peers.map(peer)), ports: r.ports })),
      egress: w.egress.map((r) => ({ to: distinct(r.peers.map(peer)), ports: r.ports })),
    },
  };
}

/**
 * Peers that differ only in what this spelling cannot say (a node address seen from the pod's own
 * node and from another: one ipBlock) are written once.
 */
function distinct(peers: NetworkPolicyPeer[]): NetworkPolicyPeer[] {
  return [...new Map(peers.map((p) => [JSON.stringify(p), p])).values()];
}

/** Numbers before names, ascending; then TCP before UDP. */
function comparePorts(a: PolicyPort, b: PolicyPort): number {
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
