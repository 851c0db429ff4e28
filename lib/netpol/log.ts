import { isIP } from '../ip';
import { SELECTOR_OPERATORS, type LabelSelector, type Labels } from '../labels';
import { FlowScanner, RFC3339 } from './flow-scan';
import type { Direction, Flow as SessionFlow, Protocol } from '../agent/recorders/network/types';

// The log's own vocabulary, for its readers: a selector is a workload's spec.selector.
export type { Direction, LabelSelector, Labels, Protocol };

/**
 * The flow log: what `netpol monitor` writes and `netpol report` reads, one JSON object per line.
 * Line 1 is a header; every other line is one flow whose peer was resolved while it was fresh, so
 * the report needs nothing but this file (no cluster, no kubeconfig).
 *
 * Compatibility: readers ignore fields they do not know, so adding a field keeps the version; a
 * change of meaning, of a required field, or a new kind of line bumps FLOW_LOG_VERSION, and older
 * readers refuse it. Version 2 added gap lines; a version 1 log is read as it always was.
 */
export const FLOW_LOG_FORMAT = 'kubectl-harden/flow-log';
export const FLOW_LOG_VERSION = 2;

/** The workload a pod belongs to: the top of its controller chain (a ReplicaSet's Deployment, a Job's CronJob). */
export interface Owner {
  kind: string;
  name: string;
}

/** The cluster DNS Service (kube-dns, whatever implements it): its pods are always allowed on port 53. */
export interface DnsIdentity {
  namespace: string;
  name: string;
  selector: Labels;
  /** Optional: the ports its pods serve on (the Service's target ports), where they are not just 53. */
  ports?: number[];
}

export interface FlowLogHeader {
  kind: 'header';
  format: typeof FLOW_LOG_FORMAT;
  version: number;
  /** kubeconfig cluster and context the monitor talked to; informational. */
  cluster: string;
  context: string;
  /** RFC 3339. */
  startTime: string;
  /** null when the monitor found no cluster DNS Service; the report then assumes kube-system/kube-dns. */
  dns: DnsIdentity | null;
}

/** A container port with a name: what a NetworkPolicy's named port resolves to on this pod. */
export interface NamedPort {
  name: string;
  protocol: Protocol | 'SCTP';
  port: number;
}

/**
 * What `netpol verify` needs of a pod beyond its identity. Optional: logs written before they were
 * recorded lack them, and verify then says what it assumed.
 */
export interface PodPolicyFacts {
  /** The labels of the pod's namespace, for namespaceSelectors. */
  namespaceLabels?: Labels;
  /** The pod's named container ports, sorted by name. */
  namedPorts?: NamedPort[];
}

/**
 * The traced pod. owner null: a bare pod (or a static pod), which is its own workload.
 * Optional (added without a version bump; older logs lack them):
 * - selector: the workload's own immutable selector (a Deployment's spec.selector, …), what its
 *   policy selects by; without it, the pod's labels minus the release-varying ones are used.
 * - node: the node it ran on; only traffic from that node's addresses is exempt from policy.
 */
export interface TargetPod extends PodPolicyFacts {
  namespace: string;
  name: string;
  labels: Labels;
  owner: Owner | null;
  selector?: LabelSelector;
  node?: string;
}

export interface PodPeer extends PodPolicyFacts {
  kind: 'pod';
  namespace: string;
  name: string;
  labels: Labels;
  owner: Owner | null;
  /** A hostNetwork pod has the node's address; only an ipBlock matches its traffic. */
  hostNetwork: boolean;
  /** Optional, as for TargetPod. */
  selector?: LabelSelector;
  node?: string;
  /**
   * Optional (egress only): the pod was reached at its node's address on a hostPort, which the
   * node DNATs to this container port before any policy sees the packet.
   */
  containerPort?: number;
}

export interface ServiceEndpoint {
  ip: string;
  port: number;
  /** Optional: the node of the endpoint (EndpointSlice nodeName). */
  node?: string;
  /**
   * Optional (a selectorless Service's endpoints only): the pod holding the address, when one does
   * (a Patroni leader, an operator's hand-kept Endpoints); a policy then selects it as any pod peer.
   */
  pod?: PodPeer;
}

/** A ClusterIP the target connected to (egress only: the kernel sees the ClusterIP, before DNAT). */
export interface ServicePeer {
  kind: 'service';
  namespace: string;
  name: string;
  /** null (or empty) for a selectorless Service such as `kubernetes`, whose endpoints are managed by hand. */
  selector: Labels | null;
  /** The Service port connected to, and its protocol (equal to the flow's proto). */
  port: number;
  protocol: Protocol;
  /** The port on the selected pods: a number, or a container port name. */
  targetPort: number | string;
  /** Required for a selectorless Service: its endpoint addresses and ports for this Service port. */
  endpoints?: ServiceEndpoint[];
  /** Optional: endpoints that are hostNetwork pods (node addresses), which no podSelector matches. */
  hostEndpoints?: ServiceEndpoint[];
}

/** A node address (kubelet probes, hostPort and NodePort traffic that kept the node's address). */
export interface NodePeer {
  kind: 'node';
  name: string;
  ip: string;
}

export interface ExternalPeer {
  kind: 'external';
  ip: string;
  family: 4 | 6;
}

export type Peer = PodPeer | ServicePeer | NodePeer | ExternalPeer;

/** What the agent saw, as one flow line carries it: the session's flow without the pod name. */
type FlowFields = Omit<SessionFlow, 'pod'>;

/**
 * A flow line. target and peer are either written inline or refer to the id of an earlier target or
 * peer line: a monitor writes each identity once and a million flows stay ~250 bytes each, which is
 * what lets `report` read them within its budget. Both forms may be mixed in one log.
 */
export interface FlowLine extends FlowFields {
  kind: 'flow';
  target: TargetPod | number;
  peer: Peer | number;
}

/** Defines (or redefines, e.g. after a relabel) the target that later flow lines name by id. */
export interface TargetLine {
  kind: 'target';
  id: number;
  target: TargetPod;
}

/** Defines (or redefines) the peer that later flow lines name by id. */
export interface PeerLine {
  kind: 'peer';
  id: number;
  peer: Peer;
}

/**
 * An interval in which the monitor's targets were not traced (version 2): on a whole node, or in
 * one container (pod and container set); connections made then may be missing from the log. A gap
 * that grew while monitoring is written again with the same start: readers keep the longest.
 */
export interface GapLine {
  kind: 'gap';
  node: string;
  pod?: string;
  container?: string;
  /** RFC 3339. */
  from: string;
  to: string;
  /** Why, as the agent named it (lib/session/types.ts GapReason). */
  reason: string;
}

export type FlowLogLine = FlowLogHeader | TargetLine | PeerLine | FlowLine | GapLine;

/** A flow with its identities resolved: what policy synthesis consumes. */
export interface Flow extends FlowFields {
  kind: 'flow';
  target: TargetPod;
  peer: Peer;
}

/** A line that is not a valid flow-log line. `line` is 1-based; 0 for a record not read from a file. */
export class FlowLogError extends Error {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(line > 0 ? `line ${line}: ${detail}` : detail);
    this.name = 'FlowLogError';
  }
}

/** One line of text (no trailing newline); validates first, so a writer's bug fails where it is made. */
export function formatLine(line: FlowLogLine): string {
  validateLine(line, 0);
  return JSON.stringify(line);
}

/** One line, checked on its own; references to earlier lines are left for FlowLogReader. */
export function parseLine(text: string, lineNo: number): FlowLogLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new FlowLogError(lineNo, `not JSON (${(e as Error).message})`);
  }
  return validateLine(value, lineNo);
}

/**
 * Reads a log line by line: the header first, then definitions and flows, each flow returned with
 * its references resolved. Memory: the identities defined so far, never the flows.
 */
export class FlowLogReader {
  header: FlowLogHeader | undefined;
  private readonly targets = new Map<number, TargetPod>();
  private readonly peers = new Map<number, Peer>();
  private readonly scanner = new FlowScanner();

  /** A flow, a header (the first, or one of a concatenated log), a gap, or null for a definition. */
  read(text: string, lineNo: number): Flow | FlowLogHeader | GapLine | null {
    return this.readAt(text, 0, text.length, lineNo);
  }

  /** read() of the line text[from, to): a reader of big chunks need not copy each line out first. */
  readAt(text: string, from: number, to: number, lineNo: number): Flow | FlowLogHeader | GapLine | null {
    if (this.header !== undefined) {
      const flow = this.scanner.scan(text, from, to, this.targets, this.peers);
      if (flow !== undefined) {
        checkPeerUse(flow.peer, flow.direction, flow.proto, lineNo);
        return flow;
      }
    }
    const line = parseLine(text.slice(from, to), lineNo);
    if (this.header === undefined && line.kind !== 'header')
      fail(
        lineNo,
        'kind',
        `expected the header first, got ${show(line.kind)}: a flow log starts with its header`,
      );
    switch (line.kind) {
      case 'header':
        this.header ??= line;
        return line;
      case 'target':
        this.targets.set(line.id, line.target);
        return null;
      case 'peer':
        this.peers.set(line.id, line.peer);
        return null;
      case 'gap':
        return line;
      case 'flow': {
        const target =
          typeof line.target === 'number'
            ? this.resolve(this.targets, line.target, 'target', lineNo)
            : line.target;
        const peer =
          typeof line.peer === 'number' ? this.resolve(this.peers, line.peer, 'peer', lineNo) : line.peer;
        checkPeerUse(peer, line.direction, line.proto, lineNo);
        // A new object rather than a mutated line keeps FlowLine and Flow honest types.
        return { ...line, target, peer };
      }
    }
  }

  private resolve<T>(defs: Map<number, T>, id: number, what: string, lineNo: number): T {
    const v = defs.get(id);
    if (v === undefined) fail(lineNo, what, `no ${what} line before this one defines id ${id}`);
    return v;
  }
}

export function validateLine(value: unknown, lineNo: number): FlowLogLine {
  const o = object(value, lineNo, 'line');
  switch (o.kind) {
    case 'flow':
      return validateFlow(o, lineNo);
    case 'target':
      int(o, 'id', lineNo, 'line', 0, Number.MAX_SAFE_INTEGER);
      validateTarget(object(o.target, lineNo, 'target'), lineNo);
      return o as unknown as TargetLine;
    case 'peer':
      int(o, 'id', lineNo, 'line', 0, Number.MAX_SAFE_INTEGER);
      validatePeer(object(o.peer, lineNo, 'peer'), lineNo);
      return o as unknown as PeerLine;
    case 'header':
      return validateHeader(o, lineNo);
    case 'gap':
      str(o, 'node', lineNo, 'line');
      optionalStr(o, 'pod', lineNo, 'line');
      optionalStr(o, 'container', lineNo, 'line');
      time(o, 'from', lineNo, 'line');
      time(o, 'to', lineNo, 'line');
      str(o, 'reason', lineNo, 'line');
      return o as unknown as GapLine;
    default:
      return fail(
        lineNo,
        'kind',
        `expected "header", "target", "peer", "flow" or "gap", got ${show(o.kind)}`,
      );
  }
}

// Validators return their input, typed: no copy per line on the hot path. Paths are passed as
// constant parts and joined only when an error message is built.

type Obj = Record<string, unknown>;

function fail(lineNo: number, path: string, msg: string): never {
  throw new FlowLogError(lineNo, `${path}: ${msg}`);
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function join(path: string, key: string): string {
  return path === 'line' ? key : `${path}.${key}`;
}

function object(v: unknown, lineNo: number, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    fail(lineNo, path, `expected an object, got ${show(v)}`);
  return v as Obj;
}

function str(o: Obj, key: string, lineNo: number, path: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '')
    fail(lineNo, join(path, key), `expected a non-empty string, got ${show(v)}`);
  return v;
}

function int(o: Obj, key: string, lineNo: number, path: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(lineNo, join(path, key), `expected an integer ${min}..${max}, got ${show(v)}`);
  return v;
}

function oneOf<T extends string>(
  o: Obj,
  key: string,
  allowed: readonly T[],
  lineNo: number,
  path: string,
): T {
  const v = o[key];
  if (!allowed.includes(v as T))
    fail(lineNo, join(path, key), `expected ${allowed.map((a) => `"${a}"`).join(' or ')}, got ${show(v)}`);
  return v as T;
}

function ip(o: Obj, key: string, lineNo: number, path: string): string {
  const v = o[key];
  if (typeof v !== 'string' || isIP(v) === 0)
    fail(lineNo, join(path, key), `expected an IP address, got ${show(v)}`);
  // Node accepts fe80::1%eth0; no Kubernetes API field does, so no policy could name it.
  if (v.includes('%'))
    fail(
      lineNo,
      join(path, key),
      `${show(v)} has an IPv6 zone id, which no NetworkPolicy can name; drop the line or the zone id`,
    );
  return v;
}

function time(o: Obj, key: string, lineNo: number, path: string): string {
  const v = o[key];
  if (typeof v !== 'string' || !RFC3339.test(v))
    fail(lineNo, join(path, key), `expected an RFC 3339 time, got ${show(v)}`);
  return v;
}

function labels(o: Obj, key: string, lineNo: number, path: string): Labels {
  const m = object(o[key], lineNo, join(path, key));
  for (const k in m) {
    if (typeof m[k] !== 'string')
      fail(lineNo, `${join(path, key)}["${k}"]`, `expected a string, got ${show(m[k])}`);
  }
  return m as Labels;
}

function selector(o: Obj, lineNo: number, path: string): void {
  if (o.selector === undefined) return;
  const at = join(path, 'selector');
  const sel = object(o.selector, lineNo, at);
  if (sel.matchLabels !== undefined) labels(sel, 'matchLabels', lineNo, at);
  if (sel.matchExpressions === undefined) return;
  if (!Array.isArray(sel.matchExpressions))
    fail(lineNo, `${at}.matchExpressions`, `expected an array, got ${show(sel.matchExpressions)}`);
  sel.matchExpressions.forEach((e, i) => {
    const req = object(e, lineNo, `${at}.matchExpressions[${i}]`);
    str(req, 'key', lineNo, `${at}.matchExpressions[${i}]`);
    oneOf(req, 'operator', SELECTOR_OPERATORS, lineNo, `${at}.matchExpressions[${i}]`);
    if (
      req.values !== undefined &&
      !(Array.isArray(req.values) && req.values.every((v) => typeof v === 'string'))
    )
      fail(lineNo, `${at}.matchExpressions[${i}].values`, `expected strings, got ${show(req.values)}`);
  });
}

function optionalStr(o: Obj, key: string, lineNo: number, path: string): void {
  if (o[key] !== undefined) str(o, key, lineNo, path);
}

function owner(o: Obj, lineNo: number, path: string): void {
  if (o.owner === null) return;
  const w = object(o.owner, lineNo, join(path, 'owner'));
  str(w, 'kind', lineNo, join(path, 'owner'));
  str(w, 'name', lineNo, join(path, 'owner'));
}

function boolean(o: Obj, key: string, lineNo: number, path: string): void {
  if (typeof o[key] !== 'boolean')
    fail(lineNo, join(path, key), `expected true or false, got ${show(o[key])}`);
}

const PROTOCOLS = ['TCP', 'UDP'] as const;
const DIRECTIONS = ['ingress', 'egress'] as const;
const PEER_KINDS = ['pod', 'service', 'node', 'external'] as const;

function validateHeader(o: Obj, lineNo: number): FlowLogHeader {
  if (o.format !== FLOW_LOG_FORMAT)
    fail(
      lineNo,
      'format',
      `expected "${FLOW_LOG_FORMAT}", got ${show(o.format)}: not a kubectl-harden flow log`,
    );
  const version = int(o, 'version', lineNo, 'line', 1, Number.MAX_SAFE_INTEGER);
  if (version > FLOW_LOG_VERSION)
    fail(
      lineNo,
      'version',
      `flow log version ${version} is newer than this kubectl-harden reads (${FLOW_LOG_VERSION}); upgrade the plugin`,
    );
  str(o, 'cluster', lineNo, 'line');
  str(o, 'context', lineNo, 'line');
  time(o, 'startTime', lineNo, 'line');
  if (o.dns !== null) {
    const dns = object(o.dns, lineNo, 'dns');
    str(dns, 'namespace', lineNo, 'dns');
    str(dns, 'name', lineNo, 'dns');
    labels(dns, 'selector', lineNo, 'dns');
    if (dns.ports !== undefined) {
      if (!Array.isArray(dns.ports)) fail(lineNo, 'dns.ports', `expected an array, got ${show(dns.ports)}`);
      dns.ports.forEach((_, i) => int(dns.ports as unknown as Obj, String(i), lineNo, 'dns.ports', 1, 65535));
    }
  }
  return o as unknown as FlowLogHeader;
}

function validateTarget(t: Obj, lineNo: number): void {
  str(t, 'namespace', lineNo, 'target');
  str(t, 'name', lineNo, 'target');
  labels(t, 'labels', lineNo, 'target');
  owner(t, lineNo, 'target');
  selector(t, lineNo, 'target');
  optionalStr(t, 'node', lineNo, 'target');
  policyFacts(t, lineNo, 'target');
}

const PORT_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

function policyFacts(o: Obj, lineNo: number, path: string): void {
  if (o.namespaceLabels !== undefined) labels(o, 'namespaceLabels', lineNo, path);
  if (o.namedPorts === undefined) return;
  const list = o.namedPorts;
  if (!Array.isArray(list)) fail(lineNo, join(path, 'namedPorts'), `expected an array, got ${show(list)}`);
  list.forEach((e, i) => {
    const at = `${join(path, 'namedPorts')}[${i}]`;
    const np = object(e, lineNo, at);
    str(np, 'name', lineNo, at);
    oneOf(np, 'protocol', PORT_PROTOCOLS, lineNo, at);
    int(np, 'port', lineNo, at, 1, 65535);
  });
}

function validateFlow(o: Obj, lineNo: number): FlowLine {
  if (typeof o.target === 'number') int(o, 'target', lineNo, 'line', 0, Number.MAX_SAFE_INTEGER);
  else validateTarget(object(o.target, lineNo, 'target'), lineNo);
  const direction = oneOf(o, 'direction', DIRECTIONS, lineNo, 'line');
  oneOf(o, 'proto', PROTOCOLS, lineNo, 'line');
  ip(o, 'localIP', lineNo, 'line');
  ip(o, 'remoteIP', lineNo, 'line');
  // The port a rule is made of must be a real port; the other side may be 0 (an unbound UDP socket).
  int(o, 'localPort', lineNo, 'line', direction === 'ingress' ? 1 : 0, 65535);
  int(o, 'remotePort', lineNo, 'line', direction === 'egress' ? 1 : 0, 65535);
  int(o, 'count', lineNo, 'line', 1, Number.MAX_SAFE_INTEGER);
  time(o, 'firstSeen', lineNo, 'line');
  time(o, 'lastSeen', lineNo, 'line');
  if (typeof o.peer === 'number') int(o, 'peer', lineNo, 'line', 0, Number.MAX_SAFE_INTEGER);
  else validatePeer(object(o.peer, lineNo, 'peer'), lineNo);
  return o as unknown as FlowLine;
}

function validatePeer(p: Obj, lineNo: number, at = 'peer'): void {
  switch (oneOf(p, 'kind', PEER_KINDS, lineNo, at)) {
    case 'pod':
      str(p, 'namespace', lineNo, at);
      str(p, 'name', lineNo, at);
      labels(p, 'labels', lineNo, at);
      owner(p, lineNo, at);
      boolean(p, 'hostNetwork', lineNo, at);
      selector(p, lineNo, at);
      optionalStr(p, 'node', lineNo, at);
      policyFacts(p, lineNo, at);
      if (p.containerPort !== undefined) int(p, 'containerPort', lineNo, at, 1, 65535);
      return;
    case 'service':
      str(p, 'namespace', lineNo, at);
      str(p, 'name', lineNo, at);
      if (p.selector !== null) labels(p, 'selector', lineNo, at);
      int(p, 'port', lineNo, at, 1, 65535);
      oneOf(p, 'protocol', PROTOCOLS, lineNo, at);
      if (typeof p.targetPort === 'string') str(p, 'targetPort', lineNo, at);
      else int(p, 'targetPort', lineNo, at, 1, 65535);
      if (p.endpoints !== undefined || isSelectorless(p.selector as Labels | null))
        endpoints(p, 'endpoints', lineNo, at);
      if (p.hostEndpoints !== undefined) endpoints(p, 'hostEndpoints', lineNo, at);
      return;
    case 'node':
      str(p, 'name', lineNo, at);
      ip(p, 'ip', lineNo, at);
      return;
    case 'external': {
      const family = isIP(ip(p, 'ip', lineNo, at));
      if (p.family !== family)
        fail(lineNo, `${at}.family`, `expected ${family} for ${show(p.ip)}, got ${show(p.family)}`);
      return;
    }
  }
}

/** What a peer may be depends on the flow that uses it: a ClusterIP is only ever a destination. */
function checkPeerUse(peer: Peer, direction: Direction, proto: Protocol, lineNo: number): void {
  if (peer.kind !== 'service') return;
  if (direction !== 'egress')
    fail(lineNo, 'peer.kind', 'a service peer only makes sense for egress (a ClusterIP is a destination)');
  if (peer.protocol !== proto)
    fail(lineNo, 'peer.protocol', `"${peer.protocol}" differs from the flow's proto "${proto}"`);
}

function endpoints(p: Obj, key: string, lineNo: number, at: string): void {
  const list = p[key];
  if (!Array.isArray(list))
    fail(
      lineNo,
      `${at}.${key}`,
      `expected an array${key === 'endpoints' ? ' (required for a selectorless service)' : ''}, got ${show(list)}`,
    );
  list.forEach((e, i) => {
    const path = `${at}.${key}[${i}]`;
    const ep = object(e, lineNo, path);
    ip(ep, 'ip', lineNo, path);
    int(ep, 'port', lineNo, path, 1, 65535);
    optionalStr(ep, 'node', lineNo, path);
    if (ep.pod === undefined) return;
    const pod = object(ep.pod, lineNo, `${path}.pod`);
    if (pod.kind !== 'pod' || pod.hostNetwork !== false)
      fail(lineNo, `${path}.pod`, 'expected a pod on the pod network (kind "pod", hostNetwork false)');
    validatePeer(pod, lineNo, `${path}.pod`);
  });
}

/** Kubernetes treats an empty selector like none: no pods are selected, endpoints are managed by hand. */
export function isSelectorless(selector: Labels | null): boolean {
  return selector === null || Object.keys(selector).length === 0;
}
