// `netpol verify` against a real dataplane: a seeded random matrix of NetworkPolicies applied with
// kubectl on the node (kubelet + containerd + Calico CNI + felix), probes run with kubectl exec, and
// the evaluator's verdict must equal felix's on every probe.
//
// Needs: pods from $HARDEN_IMAGE_CURL (test/images/curl: `sh`, `timeout` and `socat`; servers are socat
// TCP-LISTEN / UDP-RECVFROM, clients socat); felix with DefaultEndpointToHostAction=ACCEPT (as testenv
// and calico.yaml set it), so a pod's egress policy alone decides its traffic to its node. IPv4 only.
//
// Knobs: HARDEN_MATRIX_SEED (default: random, printed), HARDEN_MATRIX_POLICIES (N, default 30),
// HARDEN_MATRIX_PROBES (M, default 120).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { harden } from '../support/cluster';
import { kubectl, kubectlJson } from '../support/exec';
import { testImage } from '../support/kube-pods';
import { ensureNamespace } from '../support/namespace';
import {
  decidingPolicies,
  deniedKeys,
  expectedVerdicts,
  generateMatrix,
  HOST_TCP_PORT,
  HOST_UDP_PORT,
  NAMESPACES,
  PODS,
  podId,
  probeKey,
  probeLog,
  probeText,
  TCP_PORTS,
  UDP_PORTS,
  type Addresses,
  type DeniedGroups,
  type Probe,
} from '../support/netpol-matrix';
import type { Verdict } from '../../lib/netpol/verify';

const IMAGE = testImage('curl');
const SEED = Number(process.env.HARDEN_MATRIX_SEED ?? Math.floor(Math.random() * 2 ** 31));
const N = Number(process.env.HARDEN_MATRIX_POLICIES ?? 30);
const M = Number(process.env.HARDEN_MATRIX_PROBES ?? 120);

/** The hostNetwork server (the node's address) and the sentinel pair live where no matrix policy applies. */
const HOST_NS = 'matrix-host';
const SENTINEL_NS = 'matrix-sentinel';
const ALL_NS = [...NAMESPACES.map((n) => n.name), HOST_NS, SENTINEL_NS];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function servers(tcp: readonly number[], udp: readonly number[]): string {
  // Each server answers "ok": on connect for TCP, to each datagram for UDP.
  const t = tcp.map((p) => `socat TCP-LISTEN:${p},fork,reuseaddr SYSTEM:'echo ok' &`);
  const u = udp.map((p) => `socat UDP-RECVFROM:${p},fork SYSTEM:'echo ok' &`);
  return [...t, ...u, 'wait'].join(' ');
}

interface PodOpts {
  labels?: Record<string, string>;
  ports?: { name: string; containerPort: number; protocol: string }[];
  hostNetwork?: boolean;
  command?: string;
}

function pod(namespace: string, name: string, o: PodOpts = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, labels: o.labels ?? {} },
    spec: {
      terminationGracePeriodSeconds: 0,
      hostNetwork: o.hostNetwork ?? false,
      containers: [
        {
          name: 'c',
          image: IMAGE,
          command: ['sh', '-c', o.command ?? servers(TCP_PORTS, UDP_PORTS)],
          ports: o.ports ?? [],
        },
      ],
    },
  };
}

/** Namespaces ready for pods (an earlier run's may still be terminating), labelled, without old policies. */
async function namespaces(): Promise<void> {
  for (const ns of ALL_NS) {
    await ensureNamespace(ns);
    const labels = NAMESPACES.find((n) => n.name === ns)?.labels ?? {};
    const pairs = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
    if (pairs.length) await kubectl(['label', 'namespace', ns, '--overwrite', ...pairs]);
    await kubectl(['delete', 'networkpolicy', '--all', '-n', ns]);
  }
}

function pods(): unknown[] {
  const pods = PODS.map((p) =>
    pod(p.namespace, p.name, {
      labels: p.labels,
      ports: p.namedPorts.map((np) => ({ name: np.name, containerPort: np.port, protocol: np.protocol })),
    }),
  );
  return [
    ...pods,
    pod(HOST_NS, 'server', { hostNetwork: true, command: servers([HOST_TCP_PORT], [HOST_UDP_PORT]) }),
    pod(SENTINEL_NS, 'server', { labels: { app: 'sentinel' } }),
    pod(SENTINEL_NS, 'client'),
  ];
}

const apply = (items: unknown[]) =>
  kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });

interface PodJson {
  metadata: { namespace: string; name: string };
  status: { podIP?: string };
}

async function addresses(): Promise<Addresses> {
  const ip = async (ns: string, name: string) => {
    const p = await kubectlJson<PodJson>(['get', 'pod', '-n', ns, name]);
    if (!p.status.podIP) throw new Error(`pod ${ns}/${name} has no IP`);
    return p.status.podIP;
  };
  const pods: Record<string, string> = {};
  for (const p of PODS) pods[podId(p)] = await ip(p.namespace, p.name);
  return { pods, host: await ip(HOST_NS, 'server') };
}

/** One probe through kubectl exec: did the server's "ok" come back? */
async function connect(
  ns: string,
  name: string,
  protocol: 'TCP' | 'UDP',
  ip: string,
  port: number,
  patient = false,
): Promise<boolean> {
  // Patient: for a second look at a drop, with time to spare on a loaded node (a policy's drop
  // fails however long one waits; a connect that timed out under load does not).
  const [connectS, overallS] = patient ? [6, 20] : [2, 5];
  const target = protocol === 'TCP' ? `TCP:${ip}:${port},connect-timeout=${connectS}` : `UDP:${ip}:${port}`;
  const r = await kubectl(
    [
      'exec',
      '-n',
      ns,
      name,
      '-c',
      'c',
      '--',
      'sh',
      '-c',
      `echo x | timeout ${overallS} socat -t 2 -T ${overallS - 2} - ${target}; true`,
    ],
    {
      timeoutMs: 30_000,
    },
  );
  return r.includes('ok');
}

function source(p: Probe): [string, string] {
  if (p.from === 'host') return [HOST_NS, 'server'];
  const [ns, name] = p.from.split('/');
  return [ns, name];
}

async function felixAllows(p: Probe, addrs: Addresses, patient = false): Promise<boolean> {
  const [ns, name] = source(p);
  const ip = p.to.kind === 'host' ? addrs.host : addrs.pods[p.to.pod];
  return connect(ns, name, p.protocol, ip, p.port, patient);
}

async function sentinelAllows(): Promise<boolean> {
  const server = await kubectlJson<PodJson>(['get', 'pod', '-n', SENTINEL_NS, 'server']);
  return connect(SENTINEL_NS, 'client', 'TCP', server.status.podIP ?? '', TCP_PORTS[0]);
}

/** Polls the sentinel probe until it gives `want` (felix applies changes asynchronously). */
async function until(want: boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await sentinelAllows()) !== want) {
    if (Date.now() > deadline) throw new Error(`waited 60 s for ${what}`);
    await sleep(1000);
  }
}

/** Runs fn over items, a few at a time (kubectl exec is slow; the node has 2 cores). */
async function pool<T, R>(items: T[], width: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

function describeVerdict(v: Verdict): string {
  const side = (what: string, s: Verdict['egress']) =>
    s && s.isolatedBy.length
      ? `${what} ${s.allowed ? 'allows' : 'denies'} (${s.isolatedBy.join(', ')})`
      : `${what} not isolated`;
  return `${v.allowed ? 'allow' : 'deny'}: ${side('egress', v.egress)}; ${side('ingress', v.ingress)}`;
}

describe('netpol verify agrees with felix on a random policy matrix', () => {
  afterAll(async () => {
    await kubectl(['delete', 'namespace', ...ALL_NS, '--ignore-not-found', '--wait=false']).catch(
      () => undefined,
    );
  });

  it(
    `seed ${SEED}: N=${N} policies, M=${M} probes`,
    async () => {
      process.stdout.write(`verify matrix: seed ${SEED}, N=${N}, M=${M}, image ${IMAGE}\n`);
      await namespaces();
      await apply(pods());
      for (const ns of ALL_NS)
        await kubectl(['wait', '--for=condition=Ready', 'pod', '--all', '-n', ns, '--timeout=180s']);
      // Without these tools every probe would look dropped: say what the image lacks instead.
      const tools = await kubectl([
        'exec',
        '-n',
        SENTINEL_NS,
        'client',
        '-c',
        'c',
        '--',
        'sh',
        '-c',
        // dash's `command -v` looks up only its first name: one per tool.
        'command -v socat; command -v timeout; true',
      ]);
      expect({ image: IMAGE, tools: tools.trim().split('\n').length }).toEqual({ image: IMAGE, tools: 2 });
      await until(true, 'the sentinel pair to talk (no policy yet)');

      const addrs = await addresses();
      const matrix = generateMatrix(SEED, N, M, addrs);
      await apply(matrix.policies);
      // Felix takes updates in order: once the sentinel's deny-all (applied last) bites, the matrix is in.
      await apply([
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { name: 'sentinel', namespace: SENTINEL_NS },
          spec: { podSelector: { matchLabels: { app: 'sentinel' } }, policyTypes: ['Ingress'] },
        },
      ]);
      await until(false, 'felix to enforce the sentinel policy applied after the matrix');
      await sleep(2000);

      const expected = expectedVerdicts(matrix, addrs);
      // What users run: the bundled CLI on the probes as a flow log says the same as the evaluator.
      const policyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'matrix-')), 'policies.json');
      fs.writeFileSync(
        policyFile,
        JSON.stringify({ apiVersion: 'v1', kind: 'List', items: matrix.policies }),
      );
      const cli = await harden(['netpol', 'verify', '--input', '-', '-f', policyFile, '-o', 'json'], {
        input: probeLog(matrix, addrs),
      });
      const cliDenied = deniedKeys(JSON.parse(cli.stdout) as DeniedGroups);
      expect(cli.code).toBe(cliDenied.size ? 1 : 0);
      expect(
        matrix.probes.filter((p, i) => cliDenied.has(probeKey(p)) === expected[i].allowed).map(probeText),
      ).toEqual([]);
      const observed = await pool(matrix.probes, 4, async (p) => {
        // A lost UDP datagram looks like a drop: a drop where verify expects a pass gets two more
        // tries (a policy's drop fails them all); a drop where it expects one needs no second look.
        const tries = expected[p.id].allowed ? 3 : 1;
        for (let i = 0; i < tries; i++) if (await felixAllows(p, addrs)) return true;
        return false;
      });
      // A drop where verify expects a pass gets one patient look, one probe at a time: on a node
      // loaded by other work (load average 20 on 2 cores in a full run) socat's 5 s ran out on an
      // allowed connection once; the same seed agreed 120/120 when re-run.
      for (const p of matrix.probes) {
        if (expected[p.id].allowed && !observed[p.id]) observed[p.id] = await felixAllows(p, addrs, true);
      }
      const disagreements = matrix.probes.filter((_, i) => observed[i] !== expected[i].allowed);
      const denied = expected.filter((v) => !v.allowed).length;
      process.stdout.write(
        `verify matrix: seed ${SEED}, N=${N}, M=${M}: agreement ${M - disagreements.length}/${M}` +
          ` (${denied} denied, ${M - denied} allowed by the evaluator)\n`,
      );
      for (const p of disagreements) {
        const v = expected[p.id];
        process.stdout.write(
          `DISAGREEMENT ${probeText(p)}: felix ${observed[p.id] ? 'allowed' : 'dropped'}, verify says ${describeVerdict(v)}\n` +
            `  addresses: ${JSON.stringify(addrs)}\n` +
            `  deciding policies:\n${decidingPolicies(matrix, v)
              .map((o) => `    ${JSON.stringify(o)}`)
              .join('\n')}\n`,
        );
      }
      expect(disagreements.map(probeText)).toEqual([]);
    },
    30 * 60_000,
  );
});
