// The netpol flow end to end on the node, proven by enforcement: the agent from its image records real
// traffic between kubelet pods in two namespaces (names resolved by CoreDNS behind kube-dns, Services
// through kube-proxy), the flow logs become NetworkPolicies, felix enforces them on the Calico-CNI pods,
// and what was observed still passes while what was not is dropped.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { harden } from '../support/cluster';
import { deployAgent, restoreAgent, type Deployed } from '../support/agent-pod';
import { kubectl } from '../support/exec';
import { eventually } from '../support/eventually';
import { apply, deleteNamespace, execInKubePod, testImage, waitPodsReady } from '../support/kube-pods';
import { startMonitor } from '../support/monitor';

const FRONT = 'netpol-front';
const DATA = 'netpol-data';
const dir = mkdtempSync(join(tmpdir(), 'harden-netpol-'));
let agent: Deployed | undefined;

/** A pod (label app=<name>) and its Service; `client` adds a curl sidecar to probe from. */
function workload(o: {
  namespace: string;
  name: string;
  image: string;
  port: number;
  servicePort: number;
  client?: boolean;
}): object[] {
  const labels = { app: o.name };
  const containers: object[] = [
    {
      name: 'main',
      image: o.image,
      ports: [{ containerPort: o.port }],
      readinessProbe: { tcpSocket: { port: o.port }, periodSeconds: 1 },
    },
  ];
  if (o.client) containers.push({ name: 'client', image: testImage('curl') });
  return [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: o.name, namespace: o.namespace, labels },
      spec: { terminationGracePeriodSeconds: 2, containers },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: o.name, namespace: o.namespace, labels },
      spec: { selector: labels, ports: [{ port: o.servicePort, targetPort: o.port, protocol: 'TCP' }] },
    },
  ];
}

interface From {
  namespace: string;
  pod: string;
  container: string;
}
const CLIENT: From = { namespace: FRONT, pod: 'client', container: 'main' };
const WEB: From = { namespace: FRONT, pod: 'web', container: 'client' };

const sh = (from: From, script: string) =>
  execInKubePod(from.namespace, from.pod, ['sh', '-c', script], { container: from.container });

/** An HTTP GET through a Service name, given 2 s to connect: did nginx answer? */
async function http(from: From, url: string): Promise<boolean> {
  const r = await sh(from, `curl -sS -o /dev/null -w '%{http_code}' --connect-timeout 2 -m 4 ${url}`);
  return r.code === 0 && r.stdout === '200';
}

/** Redis's PING through its Service name: did PONG come back? */
async function redis(from: From): Promise<boolean> {
  const r = await sh(from, `echo PING | timeout 4 socat -t 2 - TCP:db.${DATA}:6379,connect-timeout=2`);
  return r.stdout.includes('PONG');
}

/** A DNS lookup through kube-dns (UDP to CoreDNS): did an answer come back? */
async function dns(from: From): Promise<boolean> {
  const r = await sh(from, `timeout 4 getent hosts db.${DATA}.svc.cluster.local.`);
  return r.code === 0 && r.stdout.trim() !== '';
}

/** Probes until the answer is `want` (felix programs rules asynchronously); the last answer. */
const until = (probe: () => Promise<boolean>, want: boolean) =>
  eventually(probe, (got) => got === want, { withinMs: 20_000, everyMs: 500 });

beforeAll(async () => {
  agent = await deployAgent();
  await apply([
    ...workload({
      namespace: FRONT,
      name: 'web',
      image: testImage('nginxUnprivileged'),
      port: 8080,
      servicePort: 80,
      client: true,
    }),
    ...workload({ namespace: DATA, name: 'db', image: testImage('redis'), port: 6379, servicePort: 6379 }),
    ...workload({
      namespace: DATA,
      name: 'other',
      image: testImage('nginxUnprivileged'),
      port: 8080,
      servicePort: 80,
    }),
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'client', namespace: FRONT, labels: { app: 'client' } },
      spec: {
        terminationGracePeriodSeconds: 2,
        containers: [{ name: 'main', image: testImage('curl') }],
      },
    },
  ]);
  await waitPodsReady(FRONT, 'app in (web,client)', { count: 2 });
  await waitPodsReady(DATA, 'app in (db,other)', { count: 2 });
}, 600_000);

afterAll(async () => {
  await deleteNamespace(FRONT).catch(() => undefined);
  await deleteNamespace(DATA).catch(() => undefined);
  await restoreAgent(agent);
}, 300_000);

test('observed traffic passes, unobserved traffic is dropped', async () => {
  // Without policies everything connects: the drops later are the policies' doing.
  expect(await until(() => http(CLIENT, 'http://web/'), true)).toBe(true);
  expect(await until(() => redis(CLIENT), true)).toBe(true);
  expect(await until(() => http(WEB, `http://other.${DATA}/`), true)).toBe(true);
  expect(await until(() => dns(WEB), true)).toBe(true);

  const webLog = join(dir, 'web.log');
  const dbLog = join(dir, 'db.log');
  const webMon = startMonitor(['-n', FRONT, '-l', 'app=web', '--output', webLog]);
  const dbMon = startMonitor(['-n', DATA, '-l', 'app=db', '--output', dbLog]);
  await Promise.all([webMon.started, dbMon.started]);
  for (let i = 0; i < 3; i++) {
    expect(await http(CLIENT, 'http://web/')).toBe(true);
    expect(await redis(WEB)).toBe(true); // resolves db through kube-dns first
    expect(await dns(WEB)).toBe(true);
  }
  // No pause before the stop: each agent writes its final flush one bpftrace interval after it
  // saw the stop, so it holds the last interval's flows, and the monitor waits for every node's
  // final flush or fails (exit 1, "the log ... is partial") - which the exit code 0 here rules out.
  const [w, d] = await Promise.all([webMon.stop(), dbMon.stop()]);
  // The stderr only when the exit code is wrong, so a failure shows why.
  expect({ code: w.code, stderr: w.code ? w.stderr : '' }).toEqual({ code: 0, stderr: '' });
  expect({ code: d.code, stderr: d.code ? d.stderr : '' }).toEqual({ code: 0, stderr: '' });
  expect(w.stderr + d.stderr).not.toContain('partial');

  const logs = readFileSync(webLog, 'utf8') + readFileSync(dbLog, 'utf8');
  const report = await harden(['netpol', 'report', '--input', '-'], { input: logs });
  expect({ code: report.code, stderr: report.stderr }).toMatchObject({ code: 0 });
  const policies = loadAll(report.stdout) as { metadata: { name: string; namespace: string } }[];
  expect(policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort()).toEqual([
    `${DATA}/db-harden`,
    `${FRONT}/web-harden`,
  ]);
  process.stdout.write(`generated policies:\n${report.stdout}\n`);
  // The round trip on recorded traffic: the report's own policies deny none of it (exit 0).
  const policyFile = join(dir, 'netpol.yaml');
  writeFileSync(policyFile, report.stdout);
  const verify = await harden(['netpol', 'verify', '--input', '-', '-f', policyFile], { input: logs });
  expect({ code: verify.code, stdout: verify.stdout, stderr: verify.stderr }).toMatchObject({
    code: 0,
    stdout: '',
  });
  await kubectl(['apply', '-f', '-'], { input: report.stdout });

  // Dropped: what was not observed (felix needs a moment to program the rules).
  const dropped = {
    'client -> db:6379/TCP': !(await until(() => redis(CLIENT), false)),
    'web -> other:8080/TCP': !(await until(() => http(WEB, `http://other.${DATA}/`), false)),
  };
  // Allowed: what was observed, still, with the policies in force.
  const allowed = {
    'client -> web:8080/TCP': await until(() => http(CLIENT, 'http://web/'), true),
    'web -> db:6379/TCP': await until(() => redis(WEB), true),
    'web -> kube-dns:53/UDP': await until(() => dns(WEB), true),
  };
  process.stdout.write(`allowed: ${JSON.stringify(allowed)}\ndropped: ${JSON.stringify(dropped)}\n`);
  expect(allowed).toEqual({
    'client -> web:8080/TCP': true,
    'web -> db:6379/TCP': true,
    'web -> kube-dns:53/UDP': true,
  });
  expect(dropped).toEqual({ 'client -> db:6379/TCP': true, 'web -> other:8080/TCP': true });
}, 300_000);
