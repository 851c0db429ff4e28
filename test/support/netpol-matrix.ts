// The randomized NetworkPolicy matrix: a fixed small cluster of pods (labels, named container ports,
// servers on TCP and UDP) in three namespaces plus a hostNetwork server, N policies and M probes drawn
// from a seed. Pure: the e2e test applies the policies to felix and runs the probes; the unit test
// checks that a seed always gives the same matrix. Addresses are inputs, since the cluster assigns them.
import { contains, parseAddress, parseCidr, type Cidr } from '../../lib/netpol/cidr';
import type { Labels, NamedPort } from '../../lib/netpol/log';
import { compileDocuments, type PortProtocol } from '../../lib/netpol/policy';
import { PolicySet, type Connection, type Endpoint, type Verdict } from '../../lib/netpol/verify';

export interface MatrixNamespace {
  name: string;
  labels: Labels;
}

export interface MatrixPod {
  namespace: string;
  name: string;
  labels: Labels;
  /** Declared container ports (with names) — what named ports in policies resolve to. */
  namedPorts: NamedPort[];
}

/** Every pod serves these; the probes pick among them. */
export const TCP_PORTS = [8080, 8081, 9090] as const;
export const UDP_PORTS = [5353, 5354] as const;
/** The hostNetwork server's ports on the node's address. */
export const HOST_TCP_PORT = 18080;
export const HOST_UDP_PORT = 18053;

export const NAMESPACES: MatrixNamespace[] = [
  { name: 'matrix-a', labels: { team: 'a', env: 'prod' } },
  { name: 'matrix-b', labels: { team: 'b', env: 'prod' } },
  { name: 'matrix-c', labels: { team: 'c', env: 'dev' } },
];

const ports = (http: number, dns: number): NamedPort[] => [
  { name: 'dns', protocol: 'UDP', port: dns },
  { name: 'http', protocol: 'TCP', port: http },
  { name: 'metrics', protocol: 'TCP', port: 9090 },
];

/** The same name means different numbers on different pods: that is what makes named ports worth testing. */
export const PODS: MatrixPod[] = [
  {
    namespace: 'matrix-a',
    name: 'web',
    labels: { app: 'web', tier: 'front' },
    namedPorts: ports(8080, 5353),
  },
  {
    namespace: 'matrix-a',
    name: 'api',
    labels: { app: 'api', tier: 'back', canary: 'true' },
    namedPorts: ports(8081, 5354),
  },
  {
    namespace: 'matrix-b',
    name: 'web',
    labels: { app: 'web', tier: 'front' },
    namedPorts: ports(8081, 5353),
  },
  { namespace: 'matrix-b', name: 'db', labels: { app: 'db', tier: 'back' }, namedPorts: ports(8080, 5354) },
  { namespace: 'matrix-c', name: 'api', labels: { app: 'api', tier: 'back' }, namedPorts: ports(8080, 5353) },
  {
    namespace: 'matrix-c',
    name: 'tool',
    labels: { app: 'tool', canary: 'true' },
    namedPorts: ports(8081, 5354),
  },
];

export const podId = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/** Where the cluster put things: pod IPv4 addresses by "namespace/name", and the node's. */
export interface Addresses {
  pods: Record<string, string>;
  host: string;
}

export type ProbeTarget = { kind: 'pod'; pod: string } | { kind: 'host' };

export interface Probe {
  id: number;
  /** "namespace/name" of a matrix pod, or "host" for the hostNetwork server (the node's address). */
  from: string;
  to: ProbeTarget;
  protocol: 'TCP' | 'UDP';
  port: number;
}

export interface Matrix {
  seed: number;
  policies: NetworkPolicyObject[];
  probes: Probe[];
}

export interface NetworkPolicyObject {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: { name: string; namespace: string };
  spec: Record<string, unknown>;
}

/** A Weyl sequence through murmur3's finalizer: small, seeded, the same on every machine. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = Math.imul(state ^ (state >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}

class Draw {
  constructor(readonly rnd: () => number) {}
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)];
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rnd() * (hi - lo + 1));
  }
}

const LABEL_VALUES: Record<string, string[]> = {
  app: ['web', 'api', 'db', 'tool'],
  tier: ['front', 'back'],
  canary: ['true'],
};

function podSelector(d: Draw): Record<string, unknown> {
  switch (d.int(0, 4)) {
    case 0:
      return {};
    case 1: {
      const key = d.pick(Object.keys(LABEL_VALUES));
      return { matchLabels: { [key]: d.pick(LABEL_VALUES[key]) } };
    }
    case 2: {
      const values = [...new Set([d.pick(LABEL_VALUES.app), d.pick(LABEL_VALUES.app)])].sort();
      return { matchExpressions: [{ key: 'app', operator: d.pick(['In', 'NotIn']), values }] };
    }
    case 3:
      return {
        matchExpressions: [{ key: d.pick(['canary', 'tier']), operator: d.pick(['Exists', 'DoesNotExist']) }],
      };
    default:
      return {
        matchLabels: { tier: d.pick(LABEL_VALUES.tier) },
        matchExpressions: [{ key: 'app', operator: 'NotIn', values: [d.pick(LABEL_VALUES.app)] }],
      };
  }
}

function namespaceSelector(d: Draw): Record<string, unknown> {
  switch (d.int(0, 3)) {
    case 0:
      return {};
    case 1:
      return { matchLabels: { 'kubernetes.io/metadata.name': d.pick(NAMESPACES).name } };
    case 2:
      return { matchLabels: { env: d.pick(['prod', 'dev']) } };
    default:
      return {
        matchExpressions: [
          { key: 'team', operator: d.pick(['In', 'NotIn']), values: [d.pick(['a', 'b', 'c'])] },
        ],
      };
  }
}

/** A block around a real address (exact, its /24 or /16, or one it is not in), maybe with an except. */
function ipBlock(d: Draw, addrs: Addresses): Record<string, unknown> {
  const all = [...Object.values(addrs.pods), addrs.host];
  const ip = d.pick(all);
  const [a, b, c] = ip.split('.');
  const cidr = d.pick([
    `${ip}/32`,
    `${a}.${b}.${c}.0/24`,
    `${a}.${b}.0.0/16`,
    '198.51.100.0/24',
    '0.0.0.0/0',
  ]);
  const block: Record<string, unknown> = { cidr };
  const prefix = Number(cidr.split('/')[1]);
  if (prefix < 32 && d.chance(0.4)) {
    // An except must lie strictly inside: another address of ours within the block, if any.
    const block4 = parseCidr(cidr) as Cidr;
    const inside = all.filter((x) => {
      const a4 = parseAddress(x);
      return a4 !== undefined && contains(block4, a4);
    });
    if (inside.length) block.except = [`${d.pick(inside)}/32`];
  }
  return { ipBlock: block };
}

function peer(d: Draw, addrs: Addresses): Record<string, unknown> {
  switch (d.int(0, 3)) {
    case 0:
      return { podSelector: podSelector(d) };
    case 1:
      return { namespaceSelector: namespaceSelector(d) };
    case 2:
      return { namespaceSelector: namespaceSelector(d), podSelector: podSelector(d) };
    default:
      return ipBlock(d, addrs);
  }
}

function port(d: Draw): Record<string, unknown> {
  return d.pick<Record<string, unknown>>([
    { port: d.pick(TCP_PORTS) },
    { protocol: 'TCP', port: 'http' },
    { protocol: 'TCP', port: 'metrics' },
    { protocol: 'UDP', port: 'dns' },
    { protocol: 'UDP', port: d.pick(UDP_PORTS) },
    { protocol: 'TCP', port: 8080, endPort: 8081 },
    { protocol: 'UDP', port: 5300, endPort: 5353 },
    { protocol: 'TCP', port: HOST_TCP_PORT },
    { protocol: 'UDP', port: HOST_UDP_PORT },
    { protocol: d.pick(['TCP', 'UDP']) },
  ]);
}

function rule(d: Draw, addrs: Addresses, peersKey: 'from' | 'to'): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  if (d.chance(0.85)) r[peersKey] = Array.from({ length: d.int(1, 2) }, () => peer(d, addrs));
  if (d.chance(0.75)) r.ports = Array.from({ length: d.int(1, 2) }, () => port(d));
  return r;
}

function policy(d: Draw, addrs: Addresses, i: number): NetworkPolicyObject {
  const types = d.pick([['Ingress'], ['Egress'], ['Ingress', 'Egress'], undefined]);
  const spec: Record<string, unknown> = { podSelector: podSelector(d) };
  if (types) spec.policyTypes = types;
  const wantIngress = !types || types.includes('Ingress');
  const wantEgress = types ? types.includes('Egress') : d.chance(0.5);
  if (wantIngress) spec.ingress = Array.from({ length: d.int(0, 2) }, () => rule(d, addrs, 'from'));
  if (wantEgress) spec.egress = Array.from({ length: d.int(types ? 0 : 1, 2) }, () => rule(d, addrs, 'to'));
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: `matrix-${i}`, namespace: d.pick(NAMESPACES).name },
    spec,
  };
}

function probe(d: Draw, id: number): Probe {
  const from = podId(d.pick(PODS));
  const protocol = d.pick(['TCP', 'UDP'] as const);
  const r = d.rnd();
  if (r < 0.15)
    return {
      id,
      from,
      to: { kind: 'host' },
      protocol,
      port: protocol === 'TCP' ? HOST_TCP_PORT : HOST_UDP_PORT,
    };
  // The node's own traffic to a pod: always allowed by the API, never policed by felix.
  if (r < 0.2)
    return {
      id,
      from: 'host',
      to: { kind: 'pod', pod: podId(d.pick(PODS)) },
      protocol: 'TCP',
      port: d.pick(TCP_PORTS),
    };
  const to = podId(d.pick(PODS.filter((p) => podId(p) !== from)));
  return {
    id,
    from,
    to: { kind: 'pod', pod: to },
    protocol,
    port: protocol === 'TCP' ? d.pick(TCP_PORTS) : d.pick(UDP_PORTS),
  };
}

/** N policies and M probes for a seed; the same seed and addresses always give the same matrix. */
export function generateMatrix(seed: number, n: number, m: number, addrs: Addresses): Matrix {
  const d = new Draw(prng(seed));
  const policies = Array.from({ length: n }, (_, i) => policy(d, addrs, i));
  const probes = Array.from({ length: m }, (_, i) => probe(d, i));
  return { seed, policies, probes };
}

function endpoint(ref: string, addrs: Addresses, srcIsHost: boolean): Endpoint {
  const addr = (ip: string) => {
    const a = parseAddress(ip);
    if (!a) throw new Error(`not an address: ${ip}`);
    return a;
  };
  if (ref === 'host') return { kind: 'host', ip: addr(addrs.host), localNode: srcIsHost };
  const pod = PODS.find((p) => podId(p) === ref);
  if (!pod) throw new Error(`no matrix pod ${ref}`);
  const ns = NAMESPACES.find((n) => n.name === pod.namespace);
  return {
    kind: 'pod',
    namespace: pod.namespace,
    name: pod.name,
    labels: pod.labels,
    // As the API server stores them: with the name label it adds to every namespace.
    namespaceLabels: { ...ns?.labels, 'kubernetes.io/metadata.name': pod.namespace },
    ip: addr(addrs.pods[ref]),
    namedPorts: pod.namedPorts,
  };
}

export function probeConnection(p: Probe, addrs: Addresses): Connection {
  return {
    src: endpoint(p.from, addrs, true),
    dst: endpoint(p.to.kind === 'host' ? 'host' : p.to.pod, addrs, p.from === 'host'),
    protocol: p.protocol as PortProtocol,
    port: p.port,
  };
}

/** The evaluator's verdict on every probe. */
export function expectedVerdicts(m: Matrix, addrs: Addresses): Verdict[] {
  const docs = m.policies.map((object) => ({ source: `seed ${m.seed}`, object }));
  const set = new PolicySet(compileDocuments(docs, 'default').policies);
  return m.probes.map((p) => set.evaluate(probeConnection(p, addrs)));
}

/** The policies that decided a probe: those isolating its source's egress or its destination's ingress. */
export function decidingPolicies(m: Matrix, v: Verdict): NetworkPolicyObject[] {
  const ids = new Set([...(v.egress?.isolatedBy ?? []), ...(v.ingress?.isolatedBy ?? [])]);
  return m.policies.filter((p) => ids.has(`${p.metadata.namespace}/${p.metadata.name}`));
}

export function probeText(p: Probe): string {
  const to = p.to.kind === 'host' ? 'host' : p.to.pod;
  return `#${p.id} ${p.from} -> ${to} ${p.protocol}/${p.port}`;
}

const NODE_NAME = 'matrix-node';

/**
 * The probes as `netpol monitor` would have logged them: each from its source's side (egress), or,
 * from the node, at the destination (ingress from a node peer). verify on this log must judge every
 * probe as the evaluator does on the probe itself.
 */
export function probeLog(m: Matrix, addrs: Addresses): string {
  const identity = (ref: string) => {
    const pod = PODS.find((p) => podId(p) === ref);
    if (!pod) throw new Error(`no matrix pod ${ref}`);
    const ns = NAMESPACES.find((n) => n.name === pod.namespace);
    return {
      namespace: pod.namespace,
      name: pod.name,
      labels: pod.labels,
      owner: null,
      namespaceLabels: { ...ns?.labels, 'kubernetes.io/metadata.name': pod.namespace },
      namedPorts: pod.namedPorts,
    };
  };
  const time = '2025-03-01T10:00:00Z';
  const lines: unknown[] = [
    {
      kind: 'header',
      format: 'kubectl-harden/flow-log',
      version: 1,
      cluster: 'matrix',
      context: 'matrix',
      startTime: time,
      dns: null,
    },
  ];
  for (const p of m.probes) {
    const common = { proto: p.protocol, count: 1, firstSeen: time, lastSeen: time };
    if (p.from === 'host') {
      const to = (p.to as { pod: string }).pod;
      lines.push({
        kind: 'flow',
        target: identity(to),
        direction: 'ingress',
        localIP: addrs.pods[to],
        localPort: p.port,
        remoteIP: addrs.host,
        remotePort: 40000 + p.id,
        peer: { kind: 'node', name: NODE_NAME, ip: addrs.host },
        ...common,
      });
      continue;
    }
    const peer =
      p.to.kind === 'host'
        ? { kind: 'node', name: NODE_NAME, ip: addrs.host }
        : { kind: 'pod', ...identity(p.to.pod), hostNetwork: false };
    lines.push({
      kind: 'flow',
      target: identity(p.from),
      direction: 'egress',
      localIP: addrs.pods[p.from],
      localPort: 40000 + p.id,
      remoteIP: p.to.kind === 'host' ? addrs.host : addrs.pods[p.to.pod],
      remotePort: p.port,
      peer,
      ...common,
    });
  }
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}

/** The shape of `netpol verify -o json`'s denied groups that probeKey reads. */
export interface DeniedGroups {
  denied: {
    namespace: string;
    workload: { name: string };
    direction: string;
    rows: { peer: string; protocol: string; port: number }[];
  }[];
}

/** A probe as verify's output names it: the logged pod, direction, peer and port. */
export function probeKey(p: Probe): string {
  if (p.from === 'host') {
    const [ns, name] = (p.to as { pod: string }).pod.split('/');
    return `${ns}/${name} ingress node ${NODE_NAME} ${p.protocol}/${p.port}`;
  }
  const peer = p.to.kind === 'host' ? `node ${NODE_NAME}` : `pod ${p.to.pod}`;
  return `${p.from} egress ${peer} ${p.protocol}/${p.port}`;
}

/** The probe keys verify's output reports denied. */
export function deniedKeys(out: DeniedGroups): Set<string> {
  const keys = new Set<string>();
  for (const g of out.denied)
    for (const r of g.rows)
      keys.add(`${g.namespace}/${g.workload.name} ${g.direction} ${r.peer} ${r.protocol}/${r.port}`);
  return keys;
}
