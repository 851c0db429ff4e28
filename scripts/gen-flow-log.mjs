#!/usr/bin/env node
// Writes a synthetic but realistic flow log (the format of lib/netpol/log.ts) for benchmarks and the
// streaming test: a few namespaces of Deployments, a StatefulSet and a DaemonSet talking to each other,
// to Services (numeric and named target ports), to the API server, to DNS and to the Internet, plus
// kubelet probes — every line unique (ephemeral ports, times) while the rules they imply stay few.
//
//   node scripts/gen-flow-log.mjs N [FILE] [--seed S] [--inline] [--external K]   (FILE absent or "-": stdout)
//
// N counts flow lines; target and peer definition lines (a few dozen) come on top unless --inline.
// --external K: the Internet is K distinct IPv4 addresses spread over the whole space, used in
// turn (every one appears once N gives ~10 K external calls): for policy-size measurements.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';

/** mulberry32: a small seeded PRNG, so the same N and seed give the same log. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NODES = [
  { name: 'worker-1', ip: '192.168.10.11' },
  { name: 'worker-2', ip: '192.168.10.12' },
  { name: 'worker-3', ip: '192.168.10.13' },
];

/** Workloads: namespace, owner, labels, container port, replica count. */
const WORKLOADS = [
  {
    ns: 'web',
    kind: 'Deployment',
    name: 'frontend',
    labels: { app: 'frontend', tier: 'web' },
    port: 8080,
    replicas: 3,
  },
  {
    ns: 'web',
    kind: 'Deployment',
    name: 'api',
    labels: { app: 'api', tier: 'backend' },
    port: 9000,
    replicas: 4,
  },
  { ns: 'web', kind: 'Deployment', name: 'worker', labels: { app: 'worker' }, port: 9100, replicas: 2 },
  {
    ns: 'data',
    kind: 'StatefulSet',
    name: 'postgres',
    labels: { app: 'postgres' },
    port: 5432,
    portName: 'pg',
    replicas: 3,
  },
  {
    ns: 'data',
    kind: 'StatefulSet',
    name: 'redis',
    labels: { app: 'redis', role: 'cache' },
    port: 6379,
    portName: 'redis',
    replicas: 3,
  },
  { ns: 'shop', kind: 'Deployment', name: 'checkout', labels: { app: 'checkout' }, port: 8443, replicas: 2 },
  {
    ns: 'shop',
    kind: 'Deployment',
    name: 'catalog',
    labels: { app: 'catalog', version: 'v2' },
    port: 8080,
    replicas: 3,
  },
  {
    ns: 'monitoring',
    kind: 'DaemonSet',
    name: 'node-exporter',
    labels: { app: 'node-exporter' },
    port: 9100,
    replicas: 3,
    hostNetwork: true,
  },
  {
    ns: 'monitoring',
    kind: 'Deployment',
    name: 'prometheus',
    labels: { app: 'prometheus' },
    port: 9090,
    replicas: 1,
  },
];

function pods(w, wi) {
  return Array.from({ length: w.replicas }, (_, i) => {
    const labels = { ...w.labels };
    let name;
    if (w.kind === 'Deployment') {
      labels['pod-template-hash'] = `7c9${wi}f5d8b`;
      name = `${w.name}-7c9${wi}f5d8b-${String.fromCharCode(97 + i)}x${i}qz`;
    } else {
      labels['controller-revision-hash'] = `${w.name}-5b8${wi}d`;
      if (w.kind === 'StatefulSet') labels['statefulset.kubernetes.io/pod-name'] = `${w.name}-${i}`;
      else labels['pod-template-generation'] = '1';
      name = w.kind === 'StatefulSet' ? `${w.name}-${i}` : `${w.name}-k${wi}${i}x`;
    }
    const node = NODES[i % NODES.length];
    const ip = w.hostNetwork ? node.ip : `10.244.${wi}.${10 + i}`;
    return {
      node,
      ns: w.ns,
      name,
      labels,
      owner: { kind: w.kind, name: w.name },
      ip,
      hostNetwork: Boolean(w.hostNetwork),
      w,
    };
  });
}

const PODS = WORKLOADS.map(pods);
const byName = (n) => PODS[WORKLOADS.findIndex((w) => w.name === n)];

const SERVICES = [
  { ns: 'web', name: 'api', selector: { app: 'api' }, ip: '10.96.12.4', port: 80, targetPort: 9000 },
  {
    ns: 'data',
    name: 'postgres',
    selector: { app: 'postgres' },
    ip: '10.96.40.2',
    port: 5432,
    targetPort: 'pg',
  },
  {
    ns: 'data',
    name: 'redis',
    selector: { app: 'redis' },
    ip: '10.96.40.9',
    port: 6379,
    targetPort: 'redis',
  },
  { ns: 'shop', name: 'catalog', selector: { app: 'catalog' }, ip: '10.96.77.1', port: 80, targetPort: 8080 },
  {
    ns: 'kube-system',
    name: 'kube-dns',
    selector: { 'k8s-app': 'kube-dns' },
    ip: '10.96.0.10',
    port: 53,
    targetPort: 53,
    udp: true,
  },
  {
    ns: 'default',
    name: 'kubernetes',
    selector: null,
    ip: '10.96.0.1',
    port: 443,
    targetPort: 6443,
    endpoints: [
      { ip: '192.168.10.2', port: 6443 },
      { ip: '192.168.10.3', port: 6443 },
    ],
  },
];

const EXTERNAL = [
  ...Array.from({ length: 30 }, (_, i) => ({ ip: `203.0.113.${i + 1}`, family: 4, port: 443 })),
  ...Array.from({ length: 6 }, (_, i) => ({
    ip: `2001:db8:40::${(i + 1).toString(16)}`,
    family: 6,
    port: 443,
  })),
  { ip: '198.51.100.25', family: 4, port: 587 },
];

/** Which workloads call which: [caller, kind, callee]. */
const CALLS = [
  ['frontend', 'service', 'api'],
  ['frontend', 'pod', 'catalog'],
  ['api', 'service', 'postgres'],
  ['api', 'service', 'redis'],
  ['api', 'external', null],
  ['worker', 'service', 'postgres'],
  ['worker', 'external', null],
  ['checkout', 'service', 'catalog'],
  ['checkout', 'pod', 'redis'],
  ['prometheus', 'pod', 'node-exporter'],
  ['prometheus', 'pod', 'api'],
  ['prometheus', 'service', 'kubernetes'],
];

/** What the monitor records of a pod: identity, plus the namespace's labels and named ports verify uses. */
function podIdentity(p) {
  return {
    namespace: p.ns,
    name: p.name,
    labels: p.labels,
    owner: p.owner,
    node: p.node.name,
    namespaceLabels: { 'kubernetes.io/metadata.name': p.ns },
    namedPorts: [{ name: p.w.portName ?? 'http', protocol: 'TCP', port: p.w.port }],
  };
}

export function header(startTime = '2025-03-01T10:00:00Z') {
  return {
    kind: 'header',
    format: 'kubectl-harden/flow-log',
    version: 1,
    cluster: 'prod-eu-1',
    context: 'admin@prod-eu-1',
    startTime,
    dns: { namespace: 'kube-system', name: 'kube-dns', selector: { 'k8s-app': 'kube-dns' } },
  };
}

/** K distinct public-looking IPv4 addresses on 443, deterministic. */
export function externalPeers(k, seed = 1) {
  const rnd = prng(seed ^ 0x5eed);
  const seen = new Set();
  while (seen.size < k) {
    const a = 11 + Math.floor(rnd() * 212); // 11..222: no 10/8, no multicast
    seen.add(`${a}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${1 + Math.floor(rnd() * 254)}`);
  }
  return [...seen].map((ip) => ({ ip, family: 4, port: 443 }));
}

/** N flow-line objects after the header, deterministic for a seed. */
export function* flows(n, seed = 1, external = EXTERNAL) {
  const rnd = prng(seed);
  let nextExternal = 0;
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const ephemeral = () => 32768 + Math.floor(rnd() * 28232);
  const t0 = Date.parse('2025-03-01T10:00:00Z');
  /** The server's side of a call: ingress from the caller's pod, on the server's port. */
  const served = (server, caller, common) => ({
    kind: 'flow',
    target: podIdentity(server),
    direction: 'ingress',
    proto: 'TCP',
    localIP: server.ip,
    localPort: server.w.port,
    remoteIP: caller.ip,
    remotePort: ephemeral(),
    peer: { kind: 'pod', ...podIdentity(caller), hostNetwork: caller.hostNetwork },
    ...common,
  });
  for (let i = 0; i < n; i++) {
    const first = t0 + i * 7 + Math.floor(rnd() * 1000);
    const common = {
      count: 1 + Math.floor(rnd() * 50),
      firstSeen: new Date(first).toISOString(),
      lastSeen: new Date(first + Math.floor(rnd() * 60000)).toISOString(),
    };
    const r = rnd();
    if (r < 0.1) {
      // kubelet probe: the pod's own node → pod, on the pod's port
      const ws = PODS.filter((ps) => !ps[0].hostNetwork);
      const p = pick(pick(ws));
      const node = p.node;
      yield {
        kind: 'flow',
        target: podIdentity(p),
        direction: 'ingress',
        proto: 'TCP',
        localIP: p.ip,
        localPort: p.w.port,
        remoteIP: node.ip,
        remotePort: ephemeral(),
        peer: { kind: 'node', name: node.name, ip: node.ip },
        ...common,
      };
      continue;
    }
    if (r < 0.25) {
      // DNS through the kube-dns ClusterIP
      const p = pick(pick(PODS));
      const dns = SERVICES.find((s) => s.name === 'kube-dns');
      const proto = rnd() < 0.9 ? 'UDP' : 'TCP';
      yield {
        kind: 'flow',
        target: podIdentity(p),
        direction: 'egress',
        proto,
        localIP: p.ip,
        localPort: ephemeral(),
        remoteIP: dns.ip,
        remotePort: 53,
        peer: {
          kind: 'service',
          namespace: dns.ns,
          name: dns.name,
          selector: dns.selector,
          port: 53,
          protocol: proto,
          targetPort: 53,
        },
        ...common,
      };
      continue;
    }
    const [callerName, kind, callee] = pick(CALLS);
    const caller = pick(byName(callerName));
    // Every call is seen from both ends when both are traced: emit the egress side or the ingress side.
    if (kind === 'external') {
      const e = external === EXTERNAL ? pick(EXTERNAL) : external[nextExternal++ % external.length];
      yield {
        kind: 'flow',
        target: podIdentity(caller),
        direction: 'egress',
        proto: 'TCP',
        localIP: caller.ip,
        localPort: ephemeral(),
        remoteIP: e.ip,
        remotePort: e.port,
        peer: { kind: 'external', ip: e.ip, family: e.family },
        ...common,
      };
    } else if (kind === 'service') {
      const s = SERVICES.find((x) => x.name === callee);
      const peer = {
        kind: 'service',
        namespace: s.ns,
        name: s.name,
        selector: s.selector,
        port: s.port,
        protocol: 'TCP',
        targetPort: s.targetPort,
      };
      if (s.endpoints) peer.endpoints = s.endpoints;
      // The traced backend sees the call too, after DNAT: from the caller's pod, on the target port.
      const backends = s.selector && WORKLOADS.some((w) => w.name === s.name) ? byName(s.name) : undefined;
      if (backends && rnd() < 0.5) {
        yield served(pick(backends), caller, common);
        continue;
      }
      yield {
        kind: 'flow',
        target: podIdentity(caller),
        direction: 'egress',
        proto: 'TCP',
        localIP: caller.ip,
        localPort: ephemeral(),
        remoteIP: s.ip,
        remotePort: s.port,
        peer,
        ...common,
      };
    } else {
      const server = pick(byName(callee));
      if (rnd() < 0.5) {
        yield {
          kind: 'flow',
          target: podIdentity(caller),
          direction: 'egress',
          proto: 'TCP',
          localIP: caller.ip,
          localPort: ephemeral(),
          remoteIP: server.ip,
          remotePort: server.w.port,
          peer: { kind: 'pod', ...podIdentity(server), hostNetwork: server.hostNetwork },
          ...common,
        };
      } else if (!server.hostNetwork) {
        yield served(server, caller, common);
      } else {
        i--; // a hostNetwork DaemonSet is not a traced target here; draw again
      }
    }
  }
}

/**
 * The log's lines as text: the header, then flows; unless inline, each target and peer is written
 * once as a definition line and flows name it by id, as `netpol monitor` does.
 */
export function* lines(n, { seed = 1, inline = false, external } = {}) {
  yield JSON.stringify(header());
  const ids = { target: new Map(), peer: new Map() };
  const ref = function* (what, value) {
    const text = JSON.stringify(value);
    let id = ids[what].get(text);
    if (id === undefined) {
      id = ids[what].size;
      ids[what].set(text, id);
      yield `{"kind":"${what}","id":${id},"${what}":${text}}`;
    }
    return id;
  };
  for (const f of flows(n, seed, external ? externalPeers(external, seed) : EXTERNAL)) {
    const { target, peer, ...rest } = f;
    // The monitor's field order (FlowLogWriter): the layout its reader reads fastest.
    yield JSON.stringify({
      kind: 'flow',
      target: inline ? target : yield* ref('target', target),
      peer: inline ? peer : yield* ref('peer', peer),
      ...rest,
    });
  }
}

async function main(argv) {
  const flag = (name) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv.splice(at, 1) : undefined;
  };
  const inline = Boolean(flag('--inline'));
  const seedAt = argv.indexOf('--seed');
  const seed = seedAt >= 0 ? Number(argv.splice(seedAt, 2)[1]) : 1;
  const extAt = argv.indexOf('--external');
  const external = extAt >= 0 ? Number(argv.splice(extAt, 2)[1]) : undefined;
  const [nText, file] = argv;
  const n = Number(nText);
  if (
    !Number.isInteger(n) ||
    n < 0 ||
    (external !== undefined && !(Number.isInteger(external) && external > 0))
  ) {
    process.stderr.write('usage: gen-flow-log.mjs N [FILE|-] [--seed S] [--inline] [--external K]\n');
    process.exitCode = 2;
    return;
  }
  const out = file && file !== '-' ? createWriteStream(file) : process.stdout;
  let buf = '';
  for (const line of lines(n, { seed, inline, external })) {
    buf += line + '\n';
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.write(buf);
  if (out !== process.stdout) {
    out.end();
    await once(out, 'finish');
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main(process.argv.slice(2));
