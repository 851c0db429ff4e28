// The netpol flow end to end, proven by enforcement: monitor real traffic between runc pods in two
// namespaces, turn the flow logs into NetworkPolicies, let Calico's felix enforce them, and check
// that what was observed still passes while what was not is dropped.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { startAgent, type Agent } from '../support/agent';
import { harden } from '../support/cluster';
import { kubectl } from '../support/exec';
import { startFelix, type Felix } from '../support/felix';
import { startMonitor } from '../support/monitor';
import { cleanupAll, execInPod, runPod, type Pod } from '../support/pods';
import { eventually } from '../support/eventually';

const FRONT = 'np-front';
const DATA = 'np-data';
const dir = mkdtempSync(join(tmpdir(), 'harden-netpol-'));
let agent: Agent;
let felix: Felix;
const pods: Record<string, Pod> = {};

/** One bounded TCP probe (busybox wget's own -T crashes; timeout bounds it). */
async function tcp(from: Pod, container: string, to: Pod, port: number): Promise<boolean> {
  const r = await execInPod(from, container, [
    'timeout',
    '3',
    'wget',
    '-q',
    '-O',
    '/dev/null',
    `http://${to.ip}:${port}/`,
  ]);
  return r.code === 0;
}

/** UDP datagrams that reached the DNS pod's network stack (busybox has no UDP server to answer). */
async function udpArrived(): Promise<number> {
  const r = await execInPod(pods.dns, 'dns', ['cat', '/proc/net/snmp']);
  const [names, values] = r.stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const field = (n: string) => Number(values.split(/\s+/)[names.split(/\s+/).indexOf(n)]);
  return field('InDatagrams') + field('NoPorts');
}

/** A DNS question over UDP to the DNS pod: it passes when the datagram arrives there. */
async function dns(from: Pod, container: string): Promise<boolean> {
  const before = await udpArrived();
  await execInPod(from, container, ['timeout', '2', 'nslookup', 'harden.test', pods.dns.ip]);
  return (await udpArrived()) > before;
}

/** Probes until the answer is `want` (felix programs rules asynchronously); the last answer. */
const until = (probe: () => Promise<boolean>, want: boolean) =>
  eventually(probe, (got) => got === want, { withinMs: 10_000, everyMs: 500 });

beforeAll(async () => {
  expect((await harden(['deploy', '--wait=false'])).code).toBe(0);
  agent = await startAgent();
  expect((await harden(['deploy', '--timeout', '60s'])).code).toBe(0);
  felix = await startFelix();
  const httpd = (port: number) => ['httpd', '-f', '-p', String(port), '-h', '/www'];
  pods.dns = await runPod({
    namespace: 'kube-system',
    name: 'dns',
    labels: { 'k8s-app': 'kube-dns' },
    containers: [{ name: 'dns', args: ['sleep', '3600'] }],
  });
  pods.db = await runPod({
    namespace: DATA,
    name: 'db',
    labels: { app: 'db' },
    containers: [{ name: 'db', args: httpd(5432) }],
  });
  pods.other = await runPod({
    namespace: DATA,
    name: 'other',
    labels: { app: 'other' },
    containers: [{ name: 'web', args: httpd(80) }],
  });
  pods.web = await runPod({
    namespace: FRONT,
    name: 'web',
    labels: { app: 'web' },
    containers: [{ name: 'web', args: httpd(80) }],
  });
  pods.client = await runPod({
    namespace: FRONT,
    name: 'client',
    labels: { app: 'client' },
    containers: [{ name: 'client', args: ['sleep', '3600'] }],
  });
});

afterAll(async () => {
  await kubectl(['delete', 'networkpolicy', '--all', '-n', FRONT]).catch(() => undefined);
  await kubectl(['delete', 'networkpolicy', '--all', '-n', DATA]).catch(() => undefined);
  await felix?.stop();
  await cleanupAll();
  await agent?.stop();
  await harden(['undeploy', '--force']);
});

test('observed traffic passes, unobserved traffic is dropped', async () => {
  // Without policies everything connects: the drops later are the policies' doing.
  expect(await until(() => tcp(pods.client, 'client', pods.web, 80), true)).toBe(true);
  expect(await tcp(pods.client, 'client', pods.db, 5432)).toBe(true);
  expect(await tcp(pods.web, 'web', pods.other, 80)).toBe(true);
  expect(await dns(pods.web, 'web')).toBe(true);

  const webLog = join(dir, 'web.log');
  const dbLog = join(dir, 'db.log');
  const webMon = startMonitor(['-n', FRONT, '-l', 'app=web', '--output', webLog]);
  const dbMon = startMonitor(['-n', DATA, '-l', 'app=db', '--output', dbLog]);
  await Promise.all([webMon.started, dbMon.started]);
  for (let i = 0; i < 3; i++) {
    expect(await tcp(pods.client, 'client', pods.web, 80)).toBe(true);
    expect(await tcp(pods.web, 'web', pods.db, 5432)).toBe(true);
    expect(await dns(pods.web, 'web')).toBe(true);
  }
  // No pause before the stop: each agent writes its final flush one bpftrace interval after it
  // saw the stop, so it holds the last interval's flows, and the monitor waits for every node's
  // final flush or fails (exit 1, "the log ... is partial") - which the exit code 0 here rules out.
  const [w, d] = await Promise.all([webMon.stop(), dbMon.stop()]);
  expect({ code: w.code, stderr: w.stderr }).toMatchObject({ code: 0 });
  expect({ code: d.code, stderr: d.stderr }).toMatchObject({ code: 0 });
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

  // Allowed: what was observed (felix needs a moment to program the rules).
  const allowed = {
    'client -> web:80/TCP': await until(() => tcp(pods.client, 'client', pods.web, 80), true),
    'web -> db:5432/TCP': await until(() => tcp(pods.web, 'web', pods.db, 5432), true),
    'web -> dns:53/UDP': await until(() => dns(pods.web, 'web'), true),
  };
  // Dropped: what was not.
  const dropped = {
    'client -> db:5432/TCP': !(await until(() => tcp(pods.client, 'client', pods.db, 5432), false)),
    'web -> other:80/TCP': !(await until(() => tcp(pods.web, 'web', pods.other, 80), false)),
  };
  process.stdout.write(`allowed: ${JSON.stringify(allowed)}\ndropped: ${JSON.stringify(dropped)}\n`);
  expect(allowed).toEqual({
    'client -> web:80/TCP': true,
    'web -> db:5432/TCP': true,
    'web -> dns:53/UDP': true,
  });
  expect(dropped).toEqual({ 'client -> db:5432/TCP': true, 'web -> other:80/TCP': true });
});
