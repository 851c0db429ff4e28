// seccomp install / uninstall / installed through the real parser, with the real agent-side
// controller writing into a temporary "seccomp root" on node-1 of the fake cluster: what a user
// types, what lands on the node, and what is left when something is refused.
import { enforcingOf } from '../../../lib/seccomp/audit';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstallController } from '../../../lib/agent/installs/controller';
import { ProfileStore } from '../../../lib/agent/installs/store';
import { R } from '../../../lib/kube/paths';
import { digestOf, type SeccompProfileInstall } from '../../../lib/seccomp/install';
import { clusterWithAgent, runCli, type FakeCluster } from '../fake-cluster';

const PROFILE = {
  defaultAction: 'SCMP_ACT_ERRNO',
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }],
};
const PATH = '/apis/harden.dev/v1alpha1/namespaces/web/seccompprofileinstalls/nginx';

let dir: string;
let root: string;
let agent: InstallController | undefined;
let c: FakeCluster;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'install-cli-'));
  root = mkdtempSync(join(tmpdir(), 'seccomp-root-'));
  c = clusterWithAgent();
  c.put(R.crds, { metadata: { name: 'seccompprofileinstalls.harden.dev' } });
  c.put(R.nodes, { metadata: { name: 'node-1' }, status: { nodeInfo: { architecture: 'amd64' } } } as never);
});
afterEach(async () => {
  await agent?.close();
  agent = undefined;
  rmSync(dir, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});

async function startAgent(arch = 'amd64') {
  const store = new ProfileStore(root);
  store.open();
  agent = new InstallController(c.kube('default'), { node: 'node-1', arch, store, log: () => undefined });
  await agent.start();
}

const file = (name: string, content: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
};
const onNode = (ns: string, name: string) => join(root, 'harden', ns, `${name}.json`);

test('install: the file is on the node with the digest, stdout is the Localhost path', async () => {
  await startAgent();
  const r = await runCli(['seccomp', 'install', file('p.json', PROFILE), '--name', 'nginx', '-n', 'web'], c);
  expect(r.err).toContain('installed on 1 node');
  expect(r.code).toBe(0);
  expect(r.out).toBe('harden/web/nginx.json\n');
  const text = readFileSync(onNode('web', 'nginx'), 'utf8');
  expect(JSON.parse(text)).toEqual(PROFILE);
  expect(r.progress.at(-1)).toContain(`1/1 nodes hold ${digestOf(text).slice(7, 19)}`);

  const list = await runCli(['seccomp', 'installed', '-n', 'web'], c);
  expect(list.out).toMatch(/nginx\s+web\s+Enforce\s+\w{12}\s+node-1\s+Installed/);

  const u = await runCli(['seccomp', 'uninstall', 'nginx', '-n', 'web'], c);
  expect(u.code).toBe(0);
  await agent!.schedule();
  expect(existsSync(onNode('web', 'nginx'))).toBe(false);
});

test('--audit installs the variant that logs instead of denying', async () => {
  await startAgent();
  const r = await runCli(
    ['seccomp', 'install', file('p.json', PROFILE), '--name', 'nginx', '-n', 'web', '--audit'],
    c,
  );
  expect(r.code).toBe(0);
  expect(JSON.parse(readFileSync(onNode('web', 'nginx'), 'utf8')).defaultAction).toBe('SCMP_ACT_LOG');
  expect((await runCli(['seccomp', 'installed', '-n', 'web'], c)).out).toContain('Audit');
  // What the enforcing profile decides stays on the install, for `seccomp audit`.
  const { annotations } = (c.objects.get(PATH) as unknown as SeccompProfileInstall).metadata;
  expect(JSON.parse(annotations?.['harden.dev/enforcing'] ?? '{}')).toEqual(enforcingOf(PROFILE));
});

test.each([
  [
    { ...PROFILE, defaultAction: 'DENY' },
    'is not a seccomp profile Kubernetes can use: defaultAction is "DENY"',
  ],
  [{ apiVersion: 'v1', kind: 'Pod' }, 'field "apiVersion", "kind": not a field of a seccomp profile'],
])('not a profile: refused naming the field, nothing created', async (p, why) => {
  await startAgent();
  const r = await runCli(['seccomp', 'install', file('p.json', p), '--name', 'nginx', '-n', 'web'], c);
  expect(r.code).toBe(1);
  expect(r.err).toContain(why);
  expect(c.objects.has(PATH)).toBe(false);
});

test('a name with ../ and a 10 MB file are refused before anything is written', async () => {
  const bad = await runCli(['seccomp', 'install', file('p.json', PROFILE), '--name', '../x', '-n', 'web'], c);
  expect(bad.code).toBe(1);
  expect(bad.err).toContain('--name: profile name "../x" is not a DNS-1123 label');
  const big = file('big.json', 'x'.repeat(10 * 1024 * 1024));
  const r = await runCli(['seccomp', 'install', big, '--name', 'nginx', '-n', 'web'], c);
  expect(r.code).toBe(1);
  expect(r.err).toContain('is larger than 262144 bytes');
  expect([...c.objects.keys()].some((k) => k.includes('/seccompprofileinstalls/'))).toBe(false);
});

test('a node of another architecture: refused before anything is written', async () => {
  c.put(R.nodes, { metadata: { name: 'node-1' }, status: { nodeInfo: { architecture: 'arm64' } } } as never);
  const r = await runCli(['seccomp', 'install', file('p.json', PROFILE), '--name', 'nginx', '-n', 'web'], c);
  expect(r.code).toBe(1);
  expect(r.err).toContain(
    'node-1: architectures (SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32) lacks SCMP_ARCH_AARCH64',
  );
  expect(c.objects.has(PATH)).toBe(false);
});

test('an agent that refuses: the error names the node and why; a new install is removed again', async () => {
  await startAgent('arm64'); // the node says amd64, the agent knows better
  const r = await runCli(['seccomp', 'install', file('p.json', PROFILE), '--name', 'nginx', '-n', 'web'], c);
  expect(r.code).toBe(1);
  expect(r.err).toContain('was refused: node-1: refused: architectures');
  expect(r.err).toContain('nothing stays installed');
  expect(c.objects.has(PATH)).toBe(false);
});

test('an update that fails puts the previous profile back', async () => {
  await startAgent();
  expect(
    (await runCli(['seccomp', 'install', file('p.json', PROFILE), '--name', 'nginx', '-n', 'web'], c)).code,
  ).toBe(0);
  const before = readFileSync(onNode('web', 'nginx'), 'utf8');
  const r = await runCli(
    [
      'seccomp',
      'install',
      file('q.json', { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'] }),
      '--name',
      'nginx',
      '-n',
      'web',
      '--timeout',
      '1s',
    ],
    c,
  );
  expect(r.code).toBe(0); // the agent holds it: this update is sound
  await agent!.close();
  agent = undefined; // no agent now: the next update times out and is undone
  const t = await runCli(
    ['seccomp', 'install', file('p.json', PROFILE), '--name', 'nginx', '-n', 'web', '--timeout', '1s'],
    c,
  );
  expect(t.code).toBe(1);
  expect(t.err).toContain('was not installed in time: node-1 did not report');
  expect(t.err).toContain('the profile installed before was put back');
  const spec = (c.objects.get(PATH) as unknown as { spec: { profile: string } }).spec;
  expect(JSON.parse(spec.profile).syscalls).toBeUndefined();
  expect(before).not.toBe(spec.profile);
});

test('uninstall is refused while a workload uses the profile, and a missing one is named', async () => {
  await startAgent();
  await runCli(['seccomp', 'install', file('p.json', PROFILE), '--name', 'nginx', '-n', 'web'], c);
  c.put(R.deployments, {
    metadata: { name: 'web', namespace: 'web' },
    spec: {
      template: {
        spec: {
          securityContext: {
            seccompProfile: { type: 'Localhost', localhostProfile: 'harden/web/nginx.json' },
          },
        },
      },
    },
  } as never);
  const r = await runCli(['seccomp', 'uninstall', 'nginx', '-n', 'web'], c);
  expect(r.code).toBe(1);
  expect(r.err).toContain('is in use by deployment/web');
  expect(c.objects.has(PATH)).toBe(true);
  expect((await runCli(['seccomp', 'uninstall', 'nginx', '-n', 'web', '--force'], c)).code).toBe(0);
  const gone = await runCli(['seccomp', 'uninstall', 'nginx', '-n', 'web'], c);
  expect(gone.err).toContain('no seccomp profile "nginx" is installed in namespace "web" (context "fake")');
});

describe('seccomp apply', () => {
  const DEPLOY = '/apis/apps/v1/namespaces/web/deployments/nginx';
  function withWorkload(status: Record<string, unknown> = {}) {
    c.put(R.deployments, {
      metadata: { name: 'nginx', namespace: 'web' },
      spec: { template: { spec: { containers: [{ name: 'nginx' }] } } },
      status,
    } as never);
  }
  async function installed() {
    await startAgent();
    expect(
      (await runCli(['seccomp', 'install', file('p.json', PROFILE), '--name', 'nginx', '-n', 'web'], c)).code,
    ).toBe(0);
  }
  const template = () =>
    (c.objects.get(DEPLOY) as unknown as { spec: { template: { spec: Record<string, unknown> } } }).spec
      .template.spec;

  test('patches the pod template to the Localhost profile, saying so first', async () => {
    await installed();
    withWorkload();
    const r = await runCli(['seccomp', 'apply', 'deployment/nginx', '--profile', 'nginx', '-n', 'web'], c);
    expect(r.err).toContain(
      'deployment: securityContext.seccompProfile (pod): <none> → Localhost harden/web/nginx.json',
    );
    expect(r).toMatchObject({ code: 0, out: 'deployment.apps/nginx patched\n' });
    expect(template().securityContext).toEqual({
      seccompProfile: { type: 'Localhost', localhostProfile: 'harden/web/nginx.json' },
    });
  });

  test('--dry-run=client prints the patch and changes nothing', async () => {
    await installed();
    withWorkload();
    const r = await runCli(
      [
        'seccomp',
        'apply',
        'deploy/nginx',
        '--profile',
        'nginx',
        '-n',
        'web',
        '-c',
        'nginx',
        '--dry-run=client',
      ],
      c,
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).spec.template.spec.containers[0]).toEqual({
      name: 'nginx',
      securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'harden/web/nginx.json' } },
    });
    expect(c.requests.filter((q) => q.startsWith('PATCH /apis/apps'))).toEqual([]);
  });

  test('a node without the profile: refused, naming it, nothing changed', async () => {
    await installed();
    withWorkload();
    c.put(R.nodes, { metadata: { name: 'node-2' } } as never);
    const r = await runCli(['seccomp', 'apply', 'deployment/nginx', '--profile', 'nginx', '-n', 'web'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'is not installed on every node deployment.apps/nginx in namespace "web" (context "fake") may run on: node-2 (no agent reported it)',
    );
    expect(template().securityContext).toBeUndefined();
  });

  test.each([
    [
      ['deployment/web', '--profile', 'nginx'],
      'deployment.apps/web not found in namespace "web" (context "fake")',
    ],
    [
      ['deployment/nginx', '--profile', 'nginx', '-c', 'php'],
      'container "php" is not in the pod template (it has nginx)',
    ],
    [
      ['deployment/nginx', '--profile', 'other'],
      'seccomp profile "other" is not installed in namespace "web" (context "fake")',
    ],
  ])('%j: a clear error', async (args, why) => {
    await installed();
    withWorkload();
    const r = await runCli(['seccomp', 'apply', ...args, '-n', 'web'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain(why);
    expect(template().securityContext).toBeUndefined();
  });

  test('a stuck rollout is not stacked on', async () => {
    await installed();
    withWorkload({
      conditions: [
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: 'ReplicaSet "nginx-1" has timed out progressing.',
        },
      ],
    });
    const r = await runCli(['seccomp', 'apply', 'deployment/nginx', '--profile', 'nginx', '-n', 'web'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain('has a stuck rollout (ReplicaSet "nginx-1" has timed out progressing.)');
  });

  test('not KIND/NAME: a usage error before connecting', async () => {
    const r = await runCli(['seccomp', 'apply', 'nginx', '--profile', 'nginx'], c);
    expect(r.code).toBe(1);
    expect(r.connects).toBe(0);
  });
});
