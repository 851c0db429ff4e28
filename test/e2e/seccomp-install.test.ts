// From profile to enforcement without leaving kubectl, on the test node: a profile recorded from
// nginx's first instruction, less one syscall nginx makes, is installed by the agent as the audit
// variant into kubelet's seccomp root and applied to the nginx Deployment (nginx keeps serving,
// and `seccomp audit` lists exactly that syscall); the corrected profile is installed (the file is
// there with the object's digest) and applied enforcing (nginx serves, a syscall it never made is
// EPERM), and uninstalled (the file and the audit session go). Bad input is refused with the
// field, name or object named, by the plugin and by the agent itself.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deployAgent, restoreAgent, type Deployed } from '../support/agent-pod';
import { harden } from '../support/cluster';
import { eventually } from '../support/eventually';
import { kubectl, kubectlJson } from '../support/exec';
import { httpStatus } from '../support/http';
import {
  deleteNamespace,
  ensureNamespace,
  execInKubePod,
  listPods,
  runDeployment,
  runKubePod,
  SECCOMP_ROOT,
  testImage,
  waitPodsReady,
  type KubePod,
} from '../support/kube-pods';

const NS = 'e2e-seccomp-install';
const dir = mkdtempSync(join(tmpdir(), 'harden-install-'));
const onNode = (name: string) => join(SECCOMP_ROOT, 'harden', NS, `${name}.json`);
const sha256 = (path: string) => `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;

let deployed: Deployed | undefined;
let client: KubePod;

async function ok(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await harden(args);
  if (r.code !== 0) throw new Error(`kubectl harden ${args.join(' ')} -> ${r.code}\n${r.stderr}`);
  return r;
}

/** The loop's transcript, printed as it goes (the closing note quotes it). */
function show(args: string[], r: { stdout: string; stderr: string; code?: number }): void {
  const code = r.code === undefined || r.code === 0 ? '' : `[exit ${r.code}]\n`;
  process.stdout.write(`$ kubectl harden ${args.join(' ')}\n${r.stdout}${r.stderr}${code}\n`);
}

async function step(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await ok(args);
  show(args, r);
  return r;
}

interface SeccompAudit {
  workloads: {
    workload: string;
    state: string;
    containers: {
      container: string;
      denied: { syscall: string; count: number; firstSeen?: string; lastSeen?: string }[];
    }[];
    gaps: unknown[];
  }[];
}
/** `seccomp audit nginx`: exit 1 while enforcing would deny something (or it cannot tell yet), 0 when not. */
async function auditNginx(...flags: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const args = ['seccomp', 'audit', 'nginx', '-n', NS, ...flags];
  const r = await harden(args);
  if (r.code !== 0 && r.code !== 1)
    throw new Error(`kubectl harden ${args.join(' ')} -> ${r.code}\n${r.stderr}`);
  return r;
}
async function deniedNow() {
  const r = await auditNginx('-o', 'json');
  const denied = (JSON.parse(r.stdout) as SeccompAudit).workloads.flatMap((w) =>
    w.containers.flatMap((c) => c.denied),
  );
  if (denied.length)
    expect({ denied: denied.length, code: r.code }).toEqual({ denied: denied.length, code: 1 });
  return denied;
}

/** A command refused: exit 1, or 2 for a verb whose 1 reports findings (`seccomp audit`). */
async function refused(args: string[], code = 1): Promise<string> {
  const r = await harden(args);
  expect({ args, code: r.code }).toEqual({ args, code });
  return r.stderr;
}

interface Install {
  metadata: { annotations?: Record<string, string> };
  spec: { digest: string; mode: string };
  status?: { nodes?: { node: string; state: string; digest?: string; message?: string }[] };
}
const installObject = (name: string) =>
  kubectlJson<Install>(['get', 'seccompprofileinstall', name, '-n', NS]);

/** What nginx never does: creating a symlink (coreutils `ln -s` uses symlinkat). */
const NEVER = ['ln', '-s', '/etc/hostname', '/tmp/never-linked'];

/** `seccomp apply`, then the rollout: the one new nginx pod, Ready and serving. */
async function applyAndRoll(old: string, ...says: string[]): Promise<KubePod> {
  const apply = await step(['seccomp', 'apply', 'deployment/nginx', '--profile', 'nginx', '-n', NS]);
  for (const s of says) expect(apply.stderr).toContain(s);
  await kubectl(['rollout', 'status', 'deployment/nginx', '-n', NS, '--timeout', '120s'], {
    timeoutMs: 130_000,
  });
  await eventually(
    () => listPods(NS, 'app=nginx'),
    (ps) => ps.length === 1 && ps[0].metadata.name !== old,
    { withinMs: 60_000, what: `nginx pod ${old} replaced` },
  );
  const [pod] = await waitPodsReady(NS, 'app=nginx', { count: 1 });
  const url = `http://${pod.status.podIP}/`;
  await eventually(
    () => httpStatus(NS, client.metadata.name, url),
    (s) => s === '200',
    { withinMs: 20_000 },
  );
  return pod;
}

beforeAll(async () => {
  await ensureNamespace(NS);
  deployed = await deployAgent();
  client = await runKubePod({
    namespace: NS,
    name: 'client',
    image: testImage('curl'),
    labels: { app: 'client' },
  });
}, 300_000);

afterAll(async () => {
  await deleteNamespace(NS).catch(() => undefined);
  await restoreAgent(deployed);
}, 300_000);

test('install, apply to nginx, enforce, uninstall', async () => {
  // A profile recorded from nginx's first instruction: the session is there before the pod.
  const id = (await ok(['seccomp', 'start', '-n', NS, '-l', 'app=nginx'])).stdout.trim();
  const [first] = await runDeployment({ namespace: NS, name: 'nginx', image: testImage('nginx'), port: 80 });
  const url = `http://${first.status.podIP}/`;
  await eventually(
    () => httpStatus(NS, client.metadata.name, url),
    (s) => s === '200',
    { withinMs: 20_000 },
  );
  for (let i = 0; i < 3; i++) expect(await httpStatus(NS, client.metadata.name, url)).toBe('200');
  const profile = (await ok(['seccomp', 'stop', id, '-n', NS])).stdout;
  const file = join(dir, 'nginx.json');
  writeFileSync(file, profile);
  // The audit profile lacks one syscall nginx makes while it serves: the one audit must name.
  const recorded = JSON.parse(profile) as { syscalls: { names: string[]; action: string }[] };
  const allowed = recorded.syscalls.flatMap((r) => r.names);
  const lacking = ['accept4', 'accept', 'epoll_wait', 'writev'].find((n) => allowed.includes(n));
  if (!lacking)
    throw new Error(`nginx's profile has none of accept4, accept, epoll_wait, writev: ${allowed.join(' ')}`);
  const short = join(dir, 'nginx-short.json');
  writeFileSync(
    short,
    JSON.stringify({
      ...recorded,
      syscalls: recorded.syscalls.map((r) => ({ ...r, names: r.names.filter((n) => n !== lacking) })),
    }),
  );
  process.stdout.write(`the audit profile lacks ${lacking}\n\n`);

  // The audit variant: nginx runs under it as before, and audit lists what enforcing would deny.
  let t0 = Date.now();
  const audit = await step(['seccomp', 'install', short, '--name', 'nginx', '-n', NS, '--audit']);
  process.stdout.write(`audit install -> every node holds it: ${Date.now() - t0} ms\n\n`);
  expect(audit.stdout).toBe(`harden/${NS}/nginx.json\n`);
  expect(JSON.parse(readFileSync(onNode('nginx'), 'utf8')).defaultAction).toBe('SCMP_ACT_LOG');
  const kept = (await installObject('nginx')).metadata.annotations?.['harden.dev/enforcing'];
  expect(JSON.parse(kept ?? '{}')).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO' });
  const underAudit = await applyAndRoll(
    first.metadata.name,
    '<none> → Localhost',
    'traces the pods of deployment/nginx from their start',
  );
  const auditUrl = `http://${underAudit.status.podIP}/`;
  for (let i = 0; i < 3; i++) expect(await httpStatus(NS, client.metadata.name, auditUrl)).toBe('200');
  // The agent flushes every few seconds: wait for the served requests to be in the session.
  const listed = await eventually(
    () => deniedNow(),
    (d) => d.length > 0,
    { withinMs: 30_000, what: 'audit listing a syscall' },
  );
  expect(listed.map((d) => d.syscall)).toEqual([lacking]);
  expect(listed[0].count).toBeGreaterThanOrEqual(1);
  expect(Date.parse(listed[0].firstSeen ?? '')).toBeLessThanOrEqual(Date.parse(listed[0].lastSeen ?? ''));
  expect(Date.parse(listed[0].firstSeen ?? '')).toBeGreaterThanOrEqual(t0 - 1000);
  const table = await auditNginx();
  show(['seccomp', 'audit', 'nginx', '-n', NS], table);
  expect(table.code).toBe(1);
  expect(table.stdout).toMatch(
    new RegExp(`^deployment/nginx\\s+main\\s+${lacking}\\s+\\d+\\s+\\S+Z\\s+\\S+Z$`, 'm'),
  );
  expect(table.stderr).toContain('1 syscall made from');
  // A process exec'd into the container makes what nginx never does: only logged, and audit says so.
  expect((await execInKubePod(NS, underAudit.metadata.name, NEVER)).code).toBe(0);
  await eventually(
    () => deniedNow(),
    (d) => d.some((x) => x.syscall === 'symlinkat'),
    { withinMs: 30_000, what: "audit listing the exec'd ln's symlinkat" },
  );
  // What runc's exec init did before it installed ln's filter (keyctl, pipe2, statfs…) is not listed.
  expect((await deniedNow()).map((d) => d.syscall).sort()).toEqual([lacking, 'symlinkat'].sort());
  const both = await auditNginx();
  show(['seccomp', 'audit', 'nginx', '-n', NS], both);
  expect(both.code).toBe(1);

  // Then the corrected, enforcing profile under the same name: applying it again rolls the pods so
  // they load it, and ends the audit session.
  t0 = Date.now();
  const install = await step(['seccomp', 'install', file, '--name', 'nginx', '-n', NS]);
  process.stdout.write(`install -> every node holds it: ${Date.now() - t0} ms\n\n`);
  expect(install.stdout).toBe(`harden/${NS}/nginx.json\n`);
  const obj = await installObject('nginx');
  expect(obj.spec.mode).toBe('Enforce');
  // The audit variant's record of what enforcing decides went with it (server-side apply).
  expect(obj.metadata.annotations?.['harden.dev/enforcing']).toBeUndefined();
  expect(sha256(onNode('nginx'))).toBe(obj.spec.digest);
  expect(obj.status?.nodes).toEqual([
    expect.objectContaining({ state: 'Installed', digest: obj.spec.digest }),
  ]);
  expect((await step(['seccomp', 'installed', '-n', NS])).stdout).toMatch(/nginx .*Enforce.* Installed/);

  const confined = await applyAndRoll(
    underAudit.metadata.name,
    'the profile was reinstalled',
    'stopped: the enforcing profile is in force',
  );
  const denied = await execInKubePod(NS, confined.metadata.name, NEVER);
  show(['(kubectl exec nginx --', ...NEVER, ')'], { stdout: '', stderr: denied.stderr, code: denied.code });
  expect(denied.code).not.toBe(0);
  expect(denied.stderr).toMatch(/Operation not permitted/);
  const enforcing = await refused(['seccomp', 'audit', 'nginx', '-n', NS], 2);
  show(['seccomp', 'audit', 'nginx', '-n', NS], { stdout: '', stderr: enforcing, code: 2 });
  expect(enforcing).toContain('is installed as the enforcing profile, not its audit variant');

  // In use: uninstall refuses until the workload no longer needs it.
  expect(await refused(['seccomp', 'uninstall', 'nginx', '-n', NS])).toContain(
    'is in use by deployment/nginx',
  );
  await kubectl(['delete', 'deployment/nginx', 'service/nginx', '-n', NS, '--wait=true']);
  await step(['seccomp', 'uninstall', 'nginx', '-n', NS]);
  await eventually(
    () => Promise.resolve(existsSync(onNode('nginx'))),
    (e) => !e,
    {
      withinMs: 30_000,
      what: 'the file removed from the node',
    },
  );
  // The audit session was the install's: the garbage collector removes it with it.
  await eventually(
    () =>
      kubectlJson<{ items: unknown[] }>([
        'get',
        'tracesessions',
        '-n',
        NS,
        '-l',
        'harden.dev/seccomp-audit=nginx',
      ]),
    (l) => l.items.length === 0,
    { withinMs: 60_000, what: 'the audit session garbage-collected' },
  );
}, 600_000);

describe('bad input', () => {
  const GOOD = { defaultAction: 'SCMP_ACT_ALLOW' };
  const write = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  test('not a seccomp profile: named with the field that is wrong', async () => {
    const err = await refused([
      'seccomp',
      'install',
      write('bad.json', '{"defaultAction":"ALLOW"}'),
      '--name',
      'bad',
      '-n',
      NS,
    ]);
    expect(err).toContain('defaultAction is "ALLOW": not a seccomp action');
  });

  test('a name with ../ and a 10 MB profile are refused, and nothing reaches the node', async () => {
    const good = write('good.json', JSON.stringify(GOOD));
    expect(await refused(['seccomp', 'install', good, '--name', '../x', '-n', NS])).toContain(
      'not a DNS-1123 label',
    );
    const big = write('big.json', JSON.stringify({ ...GOOD, pad: 'x'.repeat(10 * 1024 * 1024) }));
    expect(await refused(['seccomp', 'install', big, '--name', 'big', '-n', NS])).toContain(
      'is larger than 262144 bytes',
    );
    expect(existsSync(join(SECCOMP_ROOT, 'harden', NS, 'big.json'))).toBe(false);
  });

  test('written to the cluster directly, a profile that is not one is refused by the agent', async () => {
    const text = '{"defaultAction":"ALLOW"}\n';
    const digest = `sha256:${createHash('sha256').update(text).digest('hex')}`;
    await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'harden.dev/v1alpha1',
        kind: 'SeccompProfileInstall',
        metadata: { name: 'direct', namespace: NS },
        spec: { profile: text, digest, mode: 'Enforce' },
      }),
    });
    const obj = await eventually(
      () => installObject('direct'),
      (o) => !!o.status?.nodes?.length,
      {
        withinMs: 30_000,
        what: 'the agent reporting on it',
      },
    );
    expect(obj.status?.nodes?.[0]).toMatchObject({
      state: 'Failed',
      message: expect.stringContaining('defaultAction'),
    });
    expect(existsSync(onNode('direct'))).toBe(false);
    await kubectl(['delete', 'seccompprofileinstall', 'direct', '-n', NS]);
  });

  test('audit of a profile not installed, not the audit variant, or never applied', async () => {
    const missing = await refused(['seccomp', 'audit', 'absent', '-n', NS], 2);
    expect(missing).toMatch(
      new RegExp(`no seccomp profile "absent" is installed in namespace "${NS}" \\(context "[^"]+"\\)`),
    );
    expect(missing).toContain(`kubectl harden seccomp install FILE --name absent --audit -n ${NS}`);
    await ok([
      'seccomp',
      'install',
      write('never.json', JSON.stringify(GOOD)),
      '--name',
      'never',
      '-n',
      NS,
      '--audit',
    ]);
    expect(await refused(['seccomp', 'audit', 'never', '-n', NS], 2)).toContain(
      'the audit variant of seccomp profile "never"',
    );
    await ok(['seccomp', 'install', write('never.json', JSON.stringify(GOOD)), '--name', 'never', '-n', NS]);
    expect(await refused(['seccomp', 'audit', 'never', '-n', NS], 2)).toContain(
      'is installed as the enforcing profile, not its audit variant',
    );
    await ok(['seccomp', 'uninstall', 'never', '-n', NS]);
  });

  test('a workload that does not exist, and a container it lacks', async () => {
    await ok(['seccomp', 'install', write('allow.json', JSON.stringify(GOOD)), '--name', 'allow', '-n', NS]);
    const err = await refused(['seccomp', 'apply', 'deployment/missing', '--profile', 'allow', '-n', NS]);
    expect(err).toMatch(
      new RegExp(`deployment.apps/missing not found in namespace "${NS}" \\(context "[^"]+"\\)`),
    );
    await runDeployment({ namespace: NS, name: 'web', image: testImage('nginx'), port: 80 });
    expect(
      await refused(['seccomp', 'apply', 'deployment/web', '--profile', 'allow', '-c', 'php', '-n', NS]),
    ).toContain('container "php" is not in the pod template (it has main)');
    await ok(['seccomp', 'uninstall', 'allow', '-n', NS]);
  });
});
