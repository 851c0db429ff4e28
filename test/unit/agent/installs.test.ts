// The agent's side of installed seccomp profiles, against a real directory and the fake API
// server: files appear under harden/<ns>/, carry the object's digest, go when the object goes,
// and nothing the agent did not write is ever replaced or removed.
import {
  existsSync,
  mkdtempSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstallController } from '../../../lib/agent/installs/controller';
import { openProfileStore, ProfileStore } from '../../../lib/agent/installs/store';
import { agentDaemonSet } from '../../../lib/deploy/manifests';
import { parseAgentArgs } from '../../../lib/agent/main';
import { R } from '../../../lib/kube/paths';
import { SECCOMP_MOUNT } from '../../../lib/session/agent-names';
import { digestOf, installText, type SeccompProfileInstall } from '../../../lib/seccomp/install';
import { FakeCluster } from '../fake-cluster';

const PROFILE = installText(
  {
    defaultAction: 'SCMP_ACT_ERRNO',
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }],
  },
  'Enforce',
);

function install(name: string, profile = PROFILE, namespace = 'web'): SeccompProfileInstall {
  return {
    apiVersion: 'harden.dev/v1alpha1',
    kind: 'SeccompProfileInstall',
    metadata: { name, namespace, uid: `uid-${name}` },
    spec: { profile, digest: digestOf(profile), mode: 'Enforce' },
  };
}

let root: string;
let logs: string[];
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'seccomp-root-'));
  logs = [];
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

async function agent(c: FakeCluster, node = 'node-1', arch = 'amd64') {
  const store = new ProfileStore(root);
  store.open();
  const ctl = new InstallController(c.kube('default'), { node, arch, store, log: (m) => logs.push(m) });
  await ctl.start();
  return ctl;
}

const statusOf = (c: FakeCluster, name: string) =>
  (
    c.objects.get(
      `/apis/harden.dev/v1alpha1/namespaces/web/seccompprofileinstalls/${name}`,
    ) as unknown as SeccompProfileInstall
  ).status?.nodes;

test('an object becomes a file with its digest, reported per node; deleting it removes the file', async () => {
  const c = new FakeCluster();
  c.put(R.seccompprofileinstalls, install('nginx'));
  const ctl = await agent(c);
  const file = join(root, 'harden/web/nginx.json');
  expect(readFileSync(file, 'utf8')).toBe(PROFILE);
  expect(statusOf(c, 'nginx')).toEqual([
    expect.objectContaining({ node: 'node-1', arch: 'amd64', state: 'Installed', digest: digestOf(PROFILE) }),
  ]);

  await c
    .kube('web')
    .request('DELETE', '/apis/harden.dev/v1alpha1/namespaces/web/seccompprofileinstalls/nginx');
  await ctl.schedule();
  expect(existsSync(file)).toBe(false);
  expect(existsSync(join(root, 'harden/web'))).toBe(false);
  await ctl.close();
});

test('a node that starts later gets what was installed before it; an update replaces the file', async () => {
  const c = new FakeCluster();
  c.put(R.seccompprofileinstalls, install('nginx'));
  const ctl = await agent(c, 'node-2');
  expect(statusOf(c, 'nginx')?.[0]).toMatchObject({ node: 'node-2', state: 'Installed' });
  const v2 = installText({ defaultAction: 'SCMP_ACT_LOG' }, 'Enforce');
  await c.kube('web').apply('/apis/harden.dev/v1alpha1/namespaces/web/seccompprofileinstalls/nginx', {
    kind: 'SeccompProfileInstall',
    metadata: { name: 'nginx' },
    spec: { profile: v2, digest: digestOf(v2) },
  });
  await ctl.schedule();
  expect(readFileSync(join(root, 'harden/web/nginx.json'), 'utf8')).toBe(v2);
  expect(statusOf(c, 'nginx')?.[0]).toMatchObject({ state: 'Installed', digest: digestOf(v2) });
  await ctl.close();
});

test('written to the cluster directly, a bad object is refused by the agent itself, naming why', async () => {
  const c = new FakeCluster();
  c.put(R.seccompprofileinstalls, install('bad', '{"defaultAction":"ALLOW"}'));
  const forged = install('forged');
  forged.spec.digest = digestOf('x');
  c.put(R.seccompprofileinstalls, forged);
  c.put(R.seccompprofileinstalls, install('big', ' '.repeat(300 * 1024) + PROFILE));
  c.put(
    R.seccompprofileinstalls,
    install(
      'arm',
      installText({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_AARCH64'] }, 'Enforce'),
    ),
  );
  const ctl = await agent(c);
  expect(statusOf(c, 'bad')?.[0]).toMatchObject({
    state: 'Failed',
    message: expect.stringContaining('defaultAction is "ALLOW"'),
  });
  expect(statusOf(c, 'forged')?.[0].message).toContain("is not the profile's");
  expect(statusOf(c, 'big')?.[0].message).toContain('at most 262144 are accepted');
  expect(statusOf(c, 'arm')?.[0].message).toContain('lacks SCMP_ARCH_X86_64');
  expect(existsSync(join(root, 'harden/web'))).toBe(false);
  await ctl.close();
});

test('a file the agent did not write is neither replaced nor removed', async () => {
  mkdirSync(join(root, 'harden/web'), { recursive: true });
  writeFileSync(join(root, 'harden/web/nginx.json'), 'operator’s own\n');
  writeFileSync(join(root, 'harden/web/other.json'), 'operator’s own\n');
  const c = new FakeCluster();
  c.put(R.seccompprofileinstalls, install('nginx'));
  const ctl = await agent(c);
  expect(readFileSync(join(root, 'harden/web/nginx.json'), 'utf8')).toBe('operator’s own\n');
  expect(statusOf(c, 'nginx')?.[0]).toMatchObject({
    state: 'Failed',
    message: expect.stringContaining('kubectl-harden did not write it'),
  });
  await c
    .kube('web')
    .request('DELETE', '/apis/harden.dev/v1alpha1/namespaces/web/seccompprofileinstalls/nginx');
  await ctl.schedule();
  expect(existsSync(join(root, 'harden/web/nginx.json'))).toBe(true);
  expect(existsSync(join(root, 'harden/web/other.json'))).toBe(true);
  await ctl.close();
});

test('after a restart the manifest still says what is ours: a file whose object went meanwhile is removed', async () => {
  const c = new FakeCluster();
  c.put(R.seccompprofileinstalls, install('nginx'));
  await (await agent(c)).close();
  c.objects.clear();
  const ctl = await agent(c);
  expect(existsSync(join(root, 'harden/web/nginx.json'))).toBe(false);
  await ctl.close();
});

test('a status is written once, not again for the echo of its own write', async () => {
  const c = new FakeCluster();
  c.echoStatus = true;
  c.put(R.seccompprofileinstalls, install('nginx'));
  const ctl = await agent(c);
  await ctl.schedule();
  await ctl.schedule();
  expect(c.requests.filter((r) => r.startsWith('PATCH')).length).toBe(1);
  await ctl.close();
});

describe('opening the seccomp root at agent start', () => {
  test("a kubelet root without pods/ is not kubelet's: every install on the node says so", async () => {
    const host = mkdtempSync(join(tmpdir(), 'host-'));
    const r = openProfileStore('/var/lib/kubelet', root, host);
    expect(r.store).toBeUndefined();
    expect(r.problem).toContain("/var/lib/kubelet is not kubelet's root on this node");
    const c = new FakeCluster();
    c.put(R.seccompprofileinstalls, install('nginx'));
    const ctl = new InstallController(c.kube('default'), {
      node: 'n',
      arch: 'amd64',
      problem: r.problem,
      log: () => undefined,
    });
    await ctl.start();
    expect(statusOf(c, 'nginx')?.[0]).toMatchObject({
      state: 'Failed',
      message: expect.stringContaining('--kubelet-root'),
    });
    await ctl.close();
    mkdirSync(join(host, 'var/lib/kubelet/pods'), { recursive: true });
    expect(openProfileStore('/var/lib/kubelet', root, host).store).toBeDefined();
    rmSync(host, { recursive: true });
  });

  test('a harden/ that is a symlink is refused', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'elsewhere-'));
    symlinkSync(elsewhere, join(root, 'harden'));
    expect(() => new ProfileStore(root).open()).toThrow('is not a directory');
    rmSync(elsewhere, { recursive: true });
  });
});

test("deploy mounts kubelet's seccomp root (and only it) and tells the agent the kubelet root", () => {
  const ds = agentDaemonSet({ kubeletRoot: '/var/snap/microk8s/common/var/lib/kubelet/' });
  const { containers, volumes } = ds.spec.template.spec;
  expect(volumes).toContainEqual({
    name: 'kubelet-seccomp',
    hostPath: { path: '/var/snap/microk8s/common/var/lib/kubelet/seccomp', type: 'DirectoryOrCreate' },
  });
  expect(containers[0].volumeMounts).toContainEqual({
    name: 'kubelet-seccomp',
    mountPath: SECCOMP_MOUNT,
    readOnly: false,
  });
  expect(containers[0].args).toEqual(
    expect.arrayContaining(['--kubelet-root', '/var/snap/microk8s/common/var/lib/kubelet']),
  );
  expect(agentDaemonSet().spec.template.spec.volumes).toContainEqual(
    expect.objectContaining({ hostPath: { path: '/var/lib/kubelet/seccomp', type: 'DirectoryOrCreate' } }),
  );
  expect(parseAgentArgs(['--kubelet-root', '/k'], { NODE_NAME: 'n' }).kubeletRoot).toBe('/k');
});
