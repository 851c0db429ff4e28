// NetworkPolicies that stay right on a real cluster (issue 13), proven by enforcement: workloads
// from the local registry's images run by kubelet, `kubectl harden netpol monitor` records them,
// `report` turns the log into policies, felix enforces them, and then
//   - a UDP server (CoreDNS on 1053) is still reached by its client, and its replies needed no egress rule;
//   - a hostNetwork client still reaches its server (its own node's address: exempt, no rule);
//   - cluster DNS works over UDP and TCP;
//   - the client, relabelled as a helm upgrade would (chart and version labels), is still allowed;
//   - what was never observed (client → web) is dropped.
// The CiliumNetworkPolicy spelling is proven by schema only: Cilium's own CRD (pinned in
// scripts/testenv/versions.sh) is installed and every emitted object passes `apply --dry-run=server`.
//
// Images: HARDEN_IMAGE_CURL (Debian: bash, curl, getent), HARDEN_IMAGE_NGINX and HARDEN_IMAGE_COREDNS,
// as `scripts/testenv/testenv env` exports them.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { harden, REPO_ROOT, testenvEnv } from '../support/cluster';
import { kubectl, kubectlJson, run, runRaw } from '../support/exec';
import { eventually } from '../support/eventually';
import { ensureNamespace, testImage } from '../support/kube-pods';
import { startMonitor } from '../support/monitor';

const NS = 'np-real';
const dir = mkdtempSync(join(tmpdir(), 'harden-netpol-real-'));
const coredns = () => {
  const ref = process.env.HARDEN_IMAGE_COREDNS;
  if (!ref)
    throw new Error(
      'HARDEN_IMAGE_COREDNS is not set: run the tests after eval "$(scripts/testenv/testenv env)"',
    );
  return ref;
};

interface Policy {
  kind: string;
  metadata: { name: string; annotations: Record<string, string> };
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    ingress: {
      from: { podSelector?: { matchLabels?: Record<string, string> } }[];
      ports: { protocol: string; port: number }[];
    }[];
    egress: { to: unknown[]; ports: { protocol: string; port: number | string }[] }[];
  };
}

const CLIENT_LABELS = {
  'app.kubernetes.io/name': 'client',
  'helm.sh/chart': 'client-1.0.0',
  'app.kubernetes.io/version': '1.0.0',
};

/**
 * What the monitor traces. Not the hostNetwork client: its address is the node's, so every
 * connection to the node would count as its ingress (and NetworkPolicy does not apply to it).
 */
const MONITORED = 'harden-test: monitored';

const manifests = () => `
apiVersion: v1
kind: ConfigMap
metadata: {name: corefile, namespace: ${NS}}
data:
  Corefile: |
    .:1053 {
      whoami
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: udp-server, namespace: ${NS}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: udp-server}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: udp-server, helm.sh/chart: udp-server-1.0.0, app.kubernetes.io/version: "1.0.0", ${MONITORED}}
    spec:
      containers:
      - name: coredns
        image: ${coredns()}
        args: [-conf, /etc/coredns/Corefile]
        ports: [{containerPort: 1053, protocol: UDP}, {containerPort: 1053, protocol: TCP}]
        volumeMounts: [{name: conf, mountPath: /etc/coredns}]
      volumes: [{name: conf, configMap: {name: corefile}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, ${MONITORED}}}
    spec:
      containers: [{name: nginx, image: ${testImage('nginx')}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: ${NS}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: client}}
  template:
    metadata: {labels: ${JSON.stringify({ ...CLIENT_LABELS, 'harden-test': 'monitored' })}}
    spec:
      containers: [{name: client, image: ${testImage('curl')}}]
---
apiVersion: v1
kind: Pod
metadata: {name: hostnet-client, namespace: ${NS}, labels: {app: hostnet-client}}
spec:
  hostNetwork: true
  containers: [{name: client, image: ${testImage('curl')}}]
`;

async function podIP(selector: string): Promise<string> {
  return (
    await kubectl(['get', 'pod', '-n', NS, '-l', selector, '-o', 'jsonpath={.items[0].status.podIP}'])
  ).trim();
}

async function inPod(target: string, script: string): Promise<boolean> {
  const r = await runRaw('kubectl', ['exec', '-n', NS, target, '--', 'bash', '-c', script], {
    env: testenvEnv().processEnv,
    timeoutMs: 30_000,
  });
  return r.code === 0;
}

/** A DNS question for "a." (any answer, even REFUSED, proves the path): 19 bytes. */
const QUERY = '\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x01a\\x00\\x00\\x01\\x00\\x01';

/** UDP: bash's /dev/udp; passes when an answer datagram comes back. */
const udpQuery = (ip: string, port: number) =>
  `exec 3<>/dev/udp/${ip}/${port}; printf '${QUERY}' >&3; [ "$(timeout 3 dd bs=512 count=1 <&3 2>/dev/null | wc -c)" -gt 0 ]`;
/**
 * A question for kubernetes.default.svc.cluster.local (54 bytes), which the cluster DNS answers itself:
 * "a." goes upstream, and with no upstream reachable the answer comes after the probe gave up.
 */
const CLUSTER_QUERY =
  '\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00' +
  '\\x0akubernetes\\x07default\\x03svc\\x07cluster\\x05local\\x00\\x00\\x01\\x00\\x01';
/** TCP: length-prefixed, to the pod's resolver from resolv.conf. */
const tcpDns = () =>
  `ns=$(awk '/^nameserver/{print $2; exit}' /etc/resolv.conf); exec 3<>/dev/tcp/$ns/53; printf '\\x00\\x36${CLUSTER_QUERY}' >&3; [ "$(timeout 3 dd bs=2 count=1 <&3 2>/dev/null | wc -c)" -gt 0 ]`;

const probes = {
  udpServer: async () =>
    inPod('deploy/client', udpQuery(await podIP('app.kubernetes.io/name=udp-server'), 1053)),
  dnsUdp: () =>
    inPod('deploy/client', 'timeout 5 getent hosts kubernetes.default.svc.cluster.local >/dev/null'),
  dnsTcp: () => inPod('deploy/client', tcpDns()),
  hostnetToWeb: async () =>
    inPod('hostnet-client', `curl -sf -m 3 -o /dev/null http://${await podIP('app=web')}/`),
  clientToWeb: async () =>
    inPod('deploy/client', `curl -sf -m 3 -o /dev/null http://${await podIP('app=web')}/`),
};

/** Probes until the answer is `want` (felix programs rules asynchronously); the last answer. */
const until = (probe: () => Promise<boolean>, want: boolean, withinMs = 10_000) =>
  eventually(probe, (got) => got === want, { withinMs, everyMs: 1000 });

let policies: Policy[] = [];
let logText = '';
/** Whether the agent ran before this file: if not, it is removed again at the end. */
let agentWasDeployed = false;
let policyYaml = '';
let ciliumYaml = '';

beforeAll(async () => {
  agentWasDeployed =
    (
      await runRaw('kubectl', ['get', 'daemonset', '-n', 'harden-system', 'harden-agent'], {
        env: testenvEnv().processEnv,
      })
    ).code === 0;
  expect((await harden(['deploy', '--image', testImage('agent'), '--timeout', '120s'])).code).toBe(0);
  await ensureNamespace(NS);
  await kubectl(['apply', '-f', '-'], { input: manifests() });
  for (const d of ['udp-server', 'web', 'client'])
    await kubectl(['rollout', 'status', '-n', NS, `deploy/${d}`, '--timeout=120s']);
  await kubectl(['wait', '-n', NS, '--for=condition=Ready', 'pod/hostnet-client', '--timeout=120s']);

  // Everything the policies must allow, recorded while it happens (before any policy exists).
  const log = join(dir, 'net.log');
  const mon = startMonitor(['-n', NS, '-l', 'harden-test=monitored', '--output', log]);
  await mon.started;
  for (let i = 0; i < 3; i++) {
    expect(await probes.udpServer()).toBe(true);
    expect(await probes.dnsUdp()).toBe(true);
    expect(await probes.dnsTcp()).toBe(true);
    expect(await probes.hostnetToWeb()).toBe(true);
  }
  expect((await mon.stop()).code).toBe(0);

  logText = readFileSync(log, 'utf8');
  const r = await harden(['netpol', 'report', '--input', log]);
  expect(r.code).toBe(0);
  policyYaml = r.stdout;
  policies = loadAll(policyYaml) as Policy[];
  const c = await harden(['netpol', 'report', '--input', log, '-o', 'cilium']);
  expect(c.code).toBe(0);
  ciliumYaml = c.stdout;
  writeFileSync(join(dir, 'netpol.yaml'), policyYaml);
  writeFileSync(join(dir, 'cilium.yaml'), ciliumYaml);
});

afterAll(async () => {
  await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']).catch(() => undefined);
  await kubectl(['delete', 'crd', 'ciliumnetworkpolicies.cilium.io', '--ignore-not-found']).catch(
    () => undefined,
  );
  if (!agentWasDeployed) await harden(['undeploy', '--force']);
});

const policyOf = (workload: string) => {
  const p = policies.find((x) => x.metadata.annotations['harden.dev/workload'] === workload);
  if (!p) throw new Error(`no policy for ${workload} in:\n${policyYaml}`);
  return p;
};

interface LogTarget {
  name: string;
  selector?: unknown;
  node?: string;
  owner: unknown;
}
interface LogFlow {
  target: number;
  peer: number;
  direction: 'ingress' | 'egress';
  proto: string;
  localPort: number;
  remoteIP: string;
  remotePort: number;
}
/** The log's records of one kind (header, target, peer, flow). */
const records = <T>(kind: string): T[] =>
  logText
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T & { kind: string })
    .filter((r) => r.kind === kind);
const targets = () => records<{ id: number; target: LogTarget }>('target');
const targetId = (prefix: string) => {
  const t = targets().find((x) => x.target.name.startsWith(prefix));
  if (!t) throw new Error(`no target ${prefix}* in the log:\n${logText}`);
  return t.id;
};
const flowsOf = (target: number) => records<LogFlow>('flow').filter((f) => f.target === target);

describe('what the monitor recorded', () => {
  test("each target's workload selector (read from its ReplicaSet) and its node", () => {
    const server = targets()
      .map((t) => t.target)
      .find((t) => t.name.startsWith('udp-server-'));
    expect(server).toMatchObject({
      owner: { kind: 'Deployment', name: 'udp-server' },
      selector: { matchLabels: { 'app.kubernetes.io/name': 'udp-server' } },
      node: expect.any(String),
    });
  });

  // Only the agent's recvfrom/recvmsg/recvmmsg probes make UDP ingress records: the client's own
  // send is its egress, never the server's ingress.
  test("the UDP server's receive side: ingress on 1053 from the client; its replies are no egress", async () => {
    const server = flowsOf(targetId('udp-server-'));
    const clientIP = await podIP('app.kubernetes.io/name=client');
    expect(server).toContainEqual(
      expect.objectContaining({ direction: 'ingress', proto: 'UDP', localPort: 1053, remoteIP: clientIP }),
    );
    expect(server.filter((f) => f.direction === 'egress' && f.remoteIP === clientIP)).toEqual([]);
    expect(
      server.filter((f) => f.direction === 'egress' && f.proto === 'UDP' && f.remotePort !== 53),
    ).toEqual([]);
  });

  test("web's ingress from the hostNetwork client is recorded from its node", () => {
    const nodePeers = records<{ id: number; peer: { kind: string } }>('peer')
      .filter((p) => p.peer.kind === 'node')
      .map((p) => p.id);
    expect(flowsOf(targetId('web-'))).toContainEqual(
      expect.objectContaining({ direction: 'ingress', proto: 'TCP', localPort: 80, peer: nodePeers[0] }),
    );
  });
});

describe('what the report says', () => {
  test('the UDP server gets ingress on its port from the client, selected without release labels', () => {
    const p = policyOf('Deployment/udp-server');
    expect(p.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'udp-server' } });
    const udp = p.spec.ingress.find((r) => r.ports.some((x) => x.protocol === 'UDP' && x.port === 1053));
    expect(udp?.from).toContainEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'client' } },
    });
  });

  test("the server's replies are not egress: it only has the DNS rule", () => {
    const p = policyOf('Deployment/udp-server');
    expect(p.spec.egress).toHaveLength(1);
    expect(p.spec.egress[0].ports).toEqual(
      expect.arrayContaining([
        { protocol: 'TCP', port: 53 },
        { protocol: 'UDP', port: 53 },
      ]),
    );
  });

  test("web's only ingress is from its own node, which NetworkPolicy exempts: no rule", () => {
    expect(policyOf('Deployment/web').spec.ingress).toEqual([]);
  });

  test('no selector anywhere names a release-varying label', () => {
    for (const k of ['helm.sh/chart', 'app.kubernetes.io/version', 'pod-template-hash'])
      expect(policyYaml).not.toContain(k);
  });
});

describe('enforced by felix', () => {
  beforeAll(async () => {
    await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: policyYaml });
    await kubectl(['apply', '-f', '-'], { input: policyYaml });
    // Felix programs the dataplane asynchronously: wait for the unobserved path to close.
    expect(await until(probes.clientToWeb, false, 30_000)).toBe(false);
  });

  test('the UDP server is reached by its client', async () => {
    expect(await until(probes.udpServer, true)).toBe(true);
  });

  test('DNS works over UDP and over TCP', async () => {
    expect(await until(probes.dnsUdp, true)).toBe(true);
    expect(await until(probes.dnsTcp, true)).toBe(true);
  });

  test("the hostNetwork client reaches web (its own node's address is exempt)", async () => {
    expect(await until(probes.hostnetToWeb, true)).toBe(true);
  });

  test('what was never observed is dropped', async () => {
    expect(await probes.clientToWeb()).toBe(false);
  });

  test('a helm upgrade relabels the client (chart, version): still allowed', async () => {
    const patch = {
      spec: {
        template: {
          metadata: { labels: { 'helm.sh/chart': 'client-2.0.0', 'app.kubernetes.io/version': '2.0.0' } },
        },
      },
    };
    const before = (
      await kubectl(['get', 'pod', '-n', NS, '-l', 'app.kubernetes.io/name=client', '-o', 'name'])
    )
      .trim()
      .split('\n');
    await kubectl(['patch', '-n', NS, 'deploy/client', '--type=merge', '-p', JSON.stringify(patch)]);
    await kubectl(['rollout', 'status', '-n', NS, 'deploy/client', '--timeout=120s']);
    // The rollout is done when the new pod is available; the old one may still be terminating.
    await kubectl(['wait', '-n', NS, '--for=delete', ...before, '--timeout=90s']);
    const labels = await kubectl([
      'get',
      'pod',
      '-n',
      NS,
      '-l',
      'app.kubernetes.io/name=client',
      '-o',
      'jsonpath={.items[*].metadata.labels.helm\\.sh/chart}',
    ]);
    expect(labels.trim().split(/\s+/)).toEqual(['client-2.0.0']);
    expect(await until(probes.udpServer, true)).toBe(true);
    expect(await probes.clientToWeb()).toBe(false);
  });
});

describe('CiliumNetworkPolicy, by schema', () => {
  test("every object passes the API server's validation against Cilium's own CRD", async () => {
    const crd = (
      await run(join(REPO_ROOT, 'scripts', 'testenv', 'cilium-crd'), [], { timeoutMs: 300_000 })
    ).trim();
    await kubectl(['apply', '-f', crd]);
    // Not `kubectl wait` nor a jsonpath filter: both fail while a new CRD's conditions are unset.
    await eventually(
      async () =>
        (
          await kubectlJson<{ status?: { conditions?: { type: string; status: string }[] } }>([
            'get',
            'crd/ciliumnetworkpolicies.cilium.io',
          ])
        ).status?.conditions ?? [],
      (cs) => cs.some((c) => c.type === 'Established' && c.status === 'True'),
      { what: 'the CiliumNetworkPolicy CRD established', withinMs: 60_000 },
    );
    const docs = loadAll(ciliumYaml) as { kind: string }[];
    expect(docs.length).toBe(policies.length);
    expect(new Set(docs.map((d) => d.kind))).toEqual(new Set(['CiliumNetworkPolicy']));
    const out = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: ciliumYaml });
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(docs.length);
    for (const l of lines)
      expect(l).toMatch(/^ciliumnetworkpolicy\.cilium\.io\/\S+ created \(server dry run\)$/);
  });
});
