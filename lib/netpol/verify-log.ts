import { selectorMatches } from '../labels';
import { parseAddress } from './cidr';
import type {
  Direction,
  Flow,
  FlowLogHeader,
  Owner,
  Peer,
  PodPeer,
  Protocol,
  ServicePeer,
  TargetPod,
} from './log';
import { policyId } from './policy';
import { readFlowLog, type LogSummary, type ReadOptions } from './report';
import { relation, workloadOwner } from './synthesize';
import type { Connection, Endpoint, PodEndpoint, PolicySet, SideVerdict } from './verify';

/**
 * Replays a flow log against a PolicySet: which recorded flows the policies would deny. Streaming:
 * flows fold into distinct connections (pod, peer, direction, protocol, port, addresses), so memory
 * grows with the connections, not the lines; they are judged at the end, when every pod the log
 * names is known (a Service's pods may appear after the flows that reached them).
 */

/** One end a policy isolated, and which policies did. */
export interface DeniedSide {
  direction: Direction;
  /** The peer when it is the isolated end: namespace/name, an address, or "pods of service ns/name". Absent: the workload's own pod. */
  peer?: string;
  policies: string[];
}

/** Denied flows of one workload, direction, peer and port. */
export interface DeniedRow {
  peer: string;
  protocol: Protocol;
  port: number;
  /** Flows (the log's counts, summed). */
  count: number;
  /** The workload's pods whose flows these are. */
  pods: string[];
  firstSeen: string;
  lastSeen: string;
  deniedBy: DeniedSide[];
}

export interface DeniedGroup {
  namespace: string;
  workload: Owner;
  direction: Direction;
  rows: DeniedRow[];
}

export interface VerifyResult extends LogSummary {
  /** Flows observed: the log's counts summed (`flows` counts its flow lines). */
  observed: number;
  /** Distinct connections judged, and how many were denied. */
  connections: number;
  deniedConnections: number;
  /** Flows of the denied connections: what the rows' counts sum to. */
  deniedFlows: number;
  denied: DeniedGroup[];
  notes: string[];
}

interface Conn {
  target: TargetPod;
  peer: Peer;
  direction: Direction;
  proto: Protocol;
  localIP: string;
  remoteIP: string;
  port: number;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

/** A pod the log names, and every address it was seen with. */
interface KnownPod {
  pod: TargetPod | PodPeer;
  ips: Set<string>;
}

/** A log read into its distinct connections, ready to judge against any policy set. */
export interface RecordedLog {
  summary: LogSummary;
  connections: Connections;
}

export async function readConnections(input: NodeJS.ReadableStream, opts: ReadOptions): Promise<RecordedLog> {
  const connections = new Connections();
  const summary = await readFlowLog(input, opts, {
    header: () => undefined,
    flow: (f) => connections.add(f),
  });
  return { summary, connections };
}

/** Which of the log's flows the policies would deny. */
export function verifyLog(log: RecordedLog, set: PolicySet): VerifyResult {
  return { ...log.summary, ...judge(log.connections, set, log.summary.header) };
}

export class Connections {
  readonly conns = new Map<string, Conn>();
  readonly pods = new Map<string, KnownPod>();
  nodeIngress = 0;
  /** The flow lines' counts, summed. */
  observed = 0;
  private readonly ids = new WeakMap<object, number>();
  private readonly idsByText = new Map<string, number>();

  /** An identity's number; logs that define identities once hand over the same object each time. */
  private id(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) {
      const text = JSON.stringify(o);
      id = this.idsByText.get(text);
      if (id === undefined) {
        id = this.idsByText.size;
        this.idsByText.set(text, id);
      }
      this.ids.set(o, id);
    }
    return id;
  }

  private know(pod: TargetPod | PodPeer, ip: string): void {
    const k = `${pod.namespace}/${pod.name}`;
    const known = this.pods.get(k);
    if (known) {
      known.pod = pod; // the latest identity: a relabel shows in later lines
      known.ips.add(ip);
    } else this.pods.set(k, { pod, ips: new Set([ip]) });
  }

  /** Every namespace the log names: of its pods, peers and Services. */
  namespaces(): string[] {
    const out = new Set<string>();
    for (const c of this.conns.values()) {
      out.add(c.target.namespace);
      if (c.peer.kind === 'pod' || c.peer.kind === 'service') out.add(c.peer.namespace);
    }
    return [...out].sort();
  }

  add(f: Flow): void {
    this.observed += f.count;
    const ingress = f.direction === 'ingress';
    const port = ingress ? f.localPort : f.remotePort;
    const key = `${this.id(f.target)}|${this.id(f.peer)}|${f.direction}|${f.proto}|${port}|${f.localIP}|${f.remoteIP}`;
    const c = this.conns.get(key);
    if (c) {
      c.count += f.count;
      if (f.firstSeen < c.firstSeen) c.firstSeen = f.firstSeen;
      if (f.lastSeen > c.lastSeen) c.lastSeen = f.lastSeen;
      return;
    }
    this.conns.set(key, {
      target: f.target,
      peer: f.peer,
      direction: f.direction,
      proto: f.proto,
      localIP: f.localIP,
      remoteIP: f.remoteIP,
      port,
      count: f.count,
      firstSeen: f.firstSeen,
      lastSeen: f.lastSeen,
    });
    this.know(f.target, f.localIP);
    // A pod reached on a hostPort was addressed at its node's IP, which is not the pod's.
    if (f.peer.kind === 'pod' && !f.peer.hostNetwork && f.peer.containerPort === undefined)
      this.know(f.peer, f.remoteIP);
    // Counted only where the log cannot tell the node apart from the target's own.
    if (ingress && f.peer.kind === 'node' && relation(f.target.node, f.peer.name) === 'unknown')
      this.nodeIngress++;
  }
}

function podEndpoint(p: TargetPod | PodPeer, ip: string | undefined): PodEndpoint {
  return {
    kind: 'pod',
    namespace: p.namespace,
    name: p.name,
    labels: p.labels,
    namespaceLabels: p.namespaceLabels,
    ip: ip === undefined ? undefined : parseAddress(ip),
    namedPorts: p.namedPorts,
  };
}

function hostEndpoint(ip: string, localNode = false): Endpoint {
  const addr = parseAddress(ip);
  // The log's reader validated every address.
  if (!addr) throw new Error(`not an IP address: ${ip}`);
  return { kind: 'host', ip: addr, localNode };
}

const sameFamily = (a: string, b: string) => a.includes(':') === b.includes(':');

interface Target {
  dst: Endpoint;
  port: Connection['port'];
  /** How the isolated destination is named in the output. */
  name: string;
}

/** Where an egress flow's packets end up: the peer, or a Service's pods/endpoints after DNAT. */
function destinations(c: Conn, pods: Map<string, KnownPod>, notes: Set<string>): Target[] {
  const p = c.peer;
  switch (p.kind) {
    case 'pod':
      if (p.hostNetwork) return [{ dst: hostEndpoint(c.remoteIP), port: c.port, name: c.remoteIP }];
      // On a hostPort, the node DNATs to the pod's container port: that is what policies see.
      if (p.containerPort !== undefined)
        return [{ dst: podEndpoint(p, undefined), port: p.containerPort, name: `${p.namespace}/${p.name}` }];
      return [{ dst: podEndpoint(p, c.remoteIP), port: c.port, name: `${p.namespace}/${p.name}` }];
    case 'node':
    case 'external':
      return [{ dst: hostEndpoint(c.remoteIP), port: c.port, name: c.remoteIP }];
    case 'service':
      return serviceDestinations(c, p, pods, notes);
  }
}

function serviceDestinations(
  c: Conn,
  s: ServicePeer,
  pods: Map<string, KnownPod>,
  notes: Set<string>,
): Target[] {
  const port: Connection['port'] = typeof s.targetPort === 'number' ? s.targetPort : { name: s.targetPort };
  // Selected pods on the host network answer at their node's address, which only an ipBlock matches.
  const host = (s.hostEndpoints ?? [])
    .filter((e) => sameFamily(e.ip, c.remoteIP))
    .map((e) => ({ dst: hostEndpoint(e.ip), port: e.port, name: e.ip }));
  if (s.selector && Object.keys(s.selector).length) {
    const selector = s.selector;
    const backends = [...pods.values()].filter(
      (k) => k.pod.namespace === s.namespace && selectorMatches({ matchLabels: selector }, k.pod.labels),
    );
    if (backends.length)
      return [
        ...backends.map((k) => ({
          dst: podEndpoint(
            k.pod,
            [...k.ips].find((ip) => sameFamily(ip, c.remoteIP)),
          ),
          port,
          name: `${k.pod.namespace}/${k.pod.name}`,
        })),
        ...host,
      ];
    if (host.length) return host;
    notes.add(
      `service ${s.namespace}/${s.name}: none of its pods is in the log; they were judged by the service's selector labels alone`,
    );
    return [
      {
        dst: {
          kind: 'pod',
          namespace: s.namespace,
          name: s.name,
          labels: selector,
          standIn: `the pods of service ${s.namespace}/${s.name}`,
        },
        port,
        name: `pods of service ${s.namespace}/${s.name}`,
      },
    ];
  }
  const endpoints = s.endpoints ?? [];
  if (!endpoints.length)
    notes.add(`service ${s.namespace}/${s.name} has no selector and no endpoints; its flows were not judged`);
  return endpoints.map((e) =>
    e.pod
      ? { dst: podEndpoint(e.pod, e.ip), port: e.port, name: `${e.pod.namespace}/${e.pod.name}` }
      : { dst: hostEndpoint(e.ip), port: e.port, name: e.ip },
  );
}

function peerText(p: Peer): string {
  switch (p.kind) {
    case 'pod': {
      const w = p.owner ? `${p.owner.kind} ${p.namespace}/${p.owner.name}` : `pod ${p.namespace}/${p.name}`;
      return p.hostNetwork ? `${w} (hostNetwork)` : w;
    }
    case 'service':
      return `service ${p.namespace}/${p.name}`;
    case 'node':
      return `node ${p.name}`;
    case 'external':
      return p.ip;
  }
}

/** The isolated side of a verdict, when it denied; peer absent for the workload's own pod. */
function deniedSide(
  direction: Direction,
  peer: string | undefined,
  v: SideVerdict | undefined,
): DeniedSide[] {
  if (!v || v.allowed) return [];
  return [
    peer === undefined ? { direction, policies: v.isolatedBy } : { direction, peer, policies: v.isolatedBy },
  ];
}

function judge(
  acc: Connections,
  set: PolicySet,
  header: FlowLogHeader,
): Pick<VerifyResult, 'observed' | 'connections' | 'deniedConnections' | 'deniedFlows' | 'denied' | 'notes'> {
  const notes = new Set<string>();
  const groups = new Map<string, DeniedGroup & { byRow: Map<string, DeniedRow> }>();
  let denied = 0;
  let deniedFlows = 0;
  for (const known of acc.pods.values()) set.observe(podEndpoint(known.pod, undefined));
  for (const c of acc.conns.values()) {
    const self = podEndpoint(c.target, c.localIP);
    const sides: DeniedSide[] = [];
    if (c.direction === 'ingress') {
      // A node address is the target's own node (unpoliced) or another's (policed, as felix does):
      // the log says which by node names; a node it cannot place is taken for the pod's own
      // (kubelet probes), a hostNetwork pod it cannot place for another's.
      const peerNode = c.peer.kind === 'node' ? c.peer.name : c.peer.kind === 'pod' ? c.peer.node : undefined;
      const rel = relation(c.target.node, peerNode);
      const src =
        c.peer.kind === 'pod' && !c.peer.hostNetwork
          ? podEndpoint(c.peer, c.remoteIP)
          : hostEndpoint(c.remoteIP, rel === 'unknown' ? c.peer.kind === 'node' : rel === 'own');
      const v = set.evaluate({ src, dst: self, protocol: c.proto, port: c.port });
      sides.push(
        ...deniedSide(
          'egress',
          c.peer.kind === 'pod' ? `${c.peer.namespace}/${c.peer.name}` : c.remoteIP,
          v.egress,
        ),
        ...deniedSide('ingress', undefined, v.ingress),
      );
    } else {
      for (const t of destinations(c, acc.pods, notes)) {
        const v = set.evaluate({ src: self, dst: t.dst, protocol: c.proto, port: t.port });
        sides.push(...deniedSide('egress', undefined, v.egress), ...deniedSide('ingress', t.name, v.ingress));
      }
    }
    if (!sides.length) continue;
    if (
      c.peer.kind === 'pod' &&
      c.peer.hostNetwork &&
      c.direction === 'ingress' &&
      relation(c.target.node, c.peer.node) === 'unknown'
    )
      notes.add(
        `${peerText(c.peer)} reaches ${c.target.namespace}/${c.target.name} from its node's address: denied here, but never policed if both run on the same node`,
      );
    denied++;
    deniedFlows += c.count;
    addDenied(groups, c, dedupe(sides));
  }
  if (acc.nodeIngress)
    notes.add(
      'ingress from node addresses was taken to come from the pod’s own node (kubelet probes), which NetworkPolicy always allows',
    );
  for (const a of set.assumptions()) notes.add(a);
  for (const id of set.replaced)
    notes.add(`NetworkPolicy ${id} was given more than once; the last one counts`);
  // The cluster's other policies of these namespaces may well select pods the log never saw.
  const unused = set
    .unused()
    .filter((p) => !p.fromCluster)
    .map(policyId)
    .sort();
  if (unused.length)
    notes.add(
      `these policies select no pod in the log: ${unused.join(', ')} — log (cluster "${header.cluster}") and policies from different clusters?`,
    );
  const denied_ = [...groups.values()]
    .sort(
      (a, b) =>
        cmp(a.namespace, b.namespace) ||
        cmp(a.workload.kind, b.workload.kind) ||
        cmp(a.workload.name, b.workload.name) ||
        cmp(a.direction, b.direction),
    )
    .map(({ byRow, ...g }) => ({
      ...g,
      rows: [...byRow.values()]
        .map((r) => ({ ...r, pods: [...new Set(r.pods)].sort() }))
        .sort((a, b) => cmp(a.peer, b.peer) || a.port - b.port || cmp(a.protocol, b.protocol)),
    }));
  return {
    observed: acc.observed,
    connections: acc.conns.size,
    deniedConnections: denied,
    deniedFlows,
    denied: denied_,
    notes: [...notes].sort(),
  };
}

function dedupe(sides: DeniedSide[]): DeniedSide[] {
  const seen = new Map<string, DeniedSide>();
  for (const s of sides) seen.set(`${s.direction}|${s.peer ?? ''}|${s.policies.join(',')}`, s);
  return [...seen.values()].sort((a, b) => cmp(a.direction, b.direction) || cmp(a.peer ?? '', b.peer ?? ''));
}

function addDenied(
  groups: Map<string, DeniedGroup & { byRow: Map<string, DeniedRow> }>,
  c: Conn,
  sides: DeniedSide[],
): void {
  const t = c.target;
  const workload = workloadOwner(t) ?? { kind: 'Pod', name: t.name };
  const gk = `${t.namespace}\0${workload.kind}\0${workload.name}\0${c.direction}`;
  let g = groups.get(gk);
  if (!g) {
    g = { namespace: t.namespace, workload, direction: c.direction, rows: [], byRow: new Map() };
    groups.set(gk, g);
  }
  const peer = peerText(c.peer);
  // Replicas differ in pod names only: one row for the workload.
  const rk = JSON.stringify([peer, c.proto, c.port, sides]);
  const row = g.byRow.get(rk);
  if (row) {
    row.count += c.count;
    row.pods.push(t.name);
    if (c.firstSeen < row.firstSeen) row.firstSeen = c.firstSeen;
    if (c.lastSeen > row.lastSeen) row.lastSeen = c.lastSeen;
  } else
    g.byRow.set(rk, {
      peer,
      protocol: c.proto,
      port: c.port,
      count: c.count,
      pods: [t.name],
      firstSeen: c.firstSeen,
      lastSeen: c.lastSeen,
      deniedBy: sides,
    });
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
