// securitycontext end to end on the real node, proven by enforcement: trace a Deployment from its
// pods' start through the bundle, patch it with the advice (`-o patch`, `kubectl patch`), kubelet
// restarts it under that securityContext and it serves; a privilege the advice took away is gone;
// and Pod Security admission accepts the patched pod under `enforce: restricted` when the advice
// says restricted. Images and the agent image come from `scripts/testenv/testenv env`.
import { load } from 'js-yaml';
import { harden } from '../support/cluster';
import { kubectl, kubectlJson, runRaw } from '../support/exec';
import { testenvEnv } from '../support/env';
import {
  deleteNamespace,
  ensureNamespace,
  execInKubePod,
  runDeployment,
  runKubePod,
  testImage,
  waitPodsReady,
  type KubePod,
  type PodOptions,
} from '../support/kube-pods';

const NS = 'e2e-secctx';
const RESTRICTED_NS = 'e2e-secctx-restricted';

interface Workload extends Omit<PodOptions, 'namespace'> {
  port: number;
  /** A request from the client pod that proves it serves ($IP: the pod's address). */
  probe: string[];
  /** What the client does while it is traced. */
  exercise: string[];
}

interface Advice {
  podSecurityStandard: { level: string; notRestrictedBecause?: string[] };
  containers: {
    name: string;
    securityContext: {
      runAsUser?: number;
      runAsNonRoot?: boolean;
      capabilities?: { add?: string[]; drop?: string[] };
      readOnlyRootFilesystem?: boolean;
    };
    rootNeeded?: { why: string; alternatives: string[] };
    emptyDirs: string[];
    notObserved: string[];
  }[];
}

async function ok(args: string[]): Promise<string> {
  const r = await harden(args);
  if (r.code !== 0) throw new Error(`kubectl harden ${args.join(' ')} -> ${r.code}\n${r.stderr}`);
  return r.stdout;
}

const http = (port: number) => ['curl', '-sSf', '-m', '5', '-o', '/dev/null', `http://$IP:${port}/`];
/** A redis command over bash's /dev/tcp (the curl image has bash, not redis-cli). */
const redis = (cmd: string, reply: string) => [
  'bash',
  '-c',
  `exec 3<>/dev/tcp/$IP/6379 && printf '${cmd}\\r\\n' >&3 && timeout 3 head -c ${reply.length} <&3 | grep -qF '${reply}'`,
];

const NGINX: Workload = {
  name: 'nginx',
  image: testImage('nginx'),
  port: 80,
  probe: http(80),
  exercise: http(80),
};
/** The seed's nginx-non-root: uid/gid 1000, no privilege escalation, RuntimeDefault. */
const NGINX_NON_ROOT: Workload = {
  name: 'nginx-non-root',
  image: testImage('nginxUnprivileged'),
  port: 8080,
  podSecurityContext: { runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
  securityContext: { allowPrivilegeEscalation: false },
  probe: http(8080),
  exercise: http(8080),
};
const REDIS: Workload = {
  name: 'redis',
  image: testImage('redis'),
  port: 6379,
  probe: redis('PING', '+PONG'),
  exercise: redis('SET k v', '+OK'),
};

let client: KubePod;

/** Runs a command in the client pod, retrying while the server may not listen yet. */
async function fromClient(cmd: string[], ip: string, attempts = 20): Promise<void> {
  let last = '';
  for (let i = 0; i < attempts; i++) {
    const r = await execInKubePod(
      NS,
      client.metadata.name,
      cmd.map((a) => a.replace('$IP', ip)),
    );
    if (r.code === 0) return;
    last = `${r.stdout}${r.stderr}`;
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`${cmd.join(' ')} against ${ip} kept failing: ${last}`);
}

/** The workload's one pod once a rollout settled. */
async function podOf(w: Workload): Promise<KubePod> {
  await kubectl(['-n', NS, 'rollout', 'status', `deployment/${w.name}`, '--timeout=120s']);
  const [pod] = await waitPodsReady(NS, `app=${w.name}`);
  return pod;
}

/** Trace from the pods' start (-l, then a rollout), exercise, and return the advice and the patch. */
async function traceAndAdvise(w: Workload): Promise<{ advice: Advice; patch: string }> {
  const id = (await ok(['securitycontext', 'start', '-n', NS, '-l', `app=${w.name}`])).trim();
  await kubectl(['-n', NS, 'rollout', 'restart', `deployment/${w.name}`]);
  const pod = await podOf(w);
  const ip = pod.status.podIP ?? '';
  await fromClient(w.probe, ip);
  for (let i = 0; i < 5; i++) await fromClient(w.exercise, ip, 1);
  const shown = await harden(['securitycontext', 'show', id, '-n', NS]);
  expect(shown.code ? shown.stderr : '').toBe('');
  const stop = await harden(['sc', 'stop', id, '-n', NS, '-o', 'patch']);
  expect(stop.code ? stop.stderr : '').toBe('');
  // The closing note reports these: the advice, its level, the patch.
  process.stderr.write(`--- ${w.name}\n${shown.stdout}${stop.stderr}${stop.stdout}`);
  return { advice: load(shown.stdout) as Advice, patch: stop.stdout };
}

/** Patches the Deployment with the advice; kubelet restarts it under it; it must serve. */
async function enforce(w: Workload, patch: string): Promise<KubePod> {
  await kubectl(['-n', NS, 'patch', `deployment/${w.name}`, '--type', 'strategic', '-p', patch]);
  const pod = await podOf(w);
  for (let i = 0; i < 3; i++) await fromClient(w.probe, pod.status.podIP ?? '');
  return pod;
}

/** Whether Pod Security admission lets the patched pod template into a restricted namespace. */
async function admittedRestricted(w: Workload): Promise<{ code: number; stderr: string }> {
  const live = await kubectlJson<{ spec: { template: { spec: object } } }>([
    '-n',
    NS,
    'get',
    `deployment/${w.name}`,
  ]);
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${w.name}-probe`, namespace: RESTRICTED_NS },
    spec: live.spec.template.spec,
  };
  const r = await runRaw('kubectl', ['apply', '--dry-run=server', '-f', '-'], {
    env: testenvEnv().processEnv,
    input: JSON.stringify(pod),
  });
  return { code: r.code, stderr: r.stderr };
}

const exec = (pod: KubePod, cmd: string[]) => execInKubePod(NS, pod.metadata.name, cmd);

beforeAll(async () => {
  await ensureNamespace(NS);
  await ensureNamespace(RESTRICTED_NS);
  await kubectl([
    'label',
    '--overwrite',
    'namespace',
    RESTRICTED_NS,
    'pod-security.kubernetes.io/enforce=restricted',
  ]);
  await ok(['deploy', '--image', testImage('agent'), '--timeout', '120s']);
  client = await runKubePod({
    namespace: NS,
    name: 'client',
    image: testImage('curl'),
  });
  for (const w of [NGINX, NGINX_NON_ROOT, REDIS]) await runDeployment({ ...w, namespace: NS });
}, 600_000);

afterAll(async () => {
  await deleteNamespace(NS).catch(() => undefined);
  await deleteNamespace(RESTRICTED_NS).catch(() => undefined);
});

describe('kubectl harden securitycontext, enforced by kubelet', () => {
  test('nginx as root: root needed for :80, the alternative named; it serves; a dropped capability is gone', async () => {
    const { advice, patch } = await traceAndAdvise(NGINX);
    const [c] = advice.containers;
    expect(c.rootNeeded?.why).toMatch(/root/);
    expect(c.rootNeeded?.alternatives.join(' ')).toMatch(/1024/);
    expect(c.securityContext.capabilities?.drop).toEqual(['ALL']);
    const add = c.securityContext.capabilities?.add ?? [];
    expect(add).toContain('NET_BIND_SERVICE');
    expect(advice.podSecurityStandard.level).toBe('baseline');
    const pod = await enforce(NGINX, patch);
    // Root keeps only what the advice added: an action needing a capability it left out fails.
    const dir = c.emptyDirs[0] ?? '/tmp';
    const action = !add.includes('CHOWN')
      ? `touch ${dir}/probe && chown 65534 ${dir}/probe` // CAP_CHOWN
      : `touch ${dir}/probe && chmod 000 ${dir}/probe && cat ${dir}/probe`; // CAP_DAC_OVERRIDE
    expect(add.includes('CHOWN') && add.includes('DAC_OVERRIDE')).toBe(false);
    const r = await exec(pod, ['sh', '-c', action]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Operation not permitted|Permission denied/);
  });

  test('unprivileged nginx: restricted as uid 1000; it serves; binding :80 fails; restricted admission accepts it', async () => {
    const { advice, patch } = await traceAndAdvise(NGINX_NON_ROOT);
    const [c] = advice.containers;
    expect(c.rootNeeded).toBeUndefined();
    expect(c.securityContext).toMatchObject({
      runAsUser: 1000,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
    });
    expect(c.emptyDirs).toEqual(['/tmp']);
    expect(advice.podSecurityStandard.level).toBe('restricted');
    const pod = await enforce(NGINX_NON_ROOT, patch);
    // perl-base is in every Debian image; the same bind on a high port is the control.
    const bind = (port: number) =>
      exec(pod, [
        'perl',
        '-MIO::Socket::INET',
        '-e',
        `IO::Socket::INET->new(LocalPort => ${port}, Listen => 1, ReuseAddr => 1) or die "bind: $!\\n"`,
      ]);
    expect((await bind(8081)).code).toBe(0);
    const low = await bind(80);
    expect(low.code).not.toBe(0);
    expect(low.stderr).toMatch(/bind: Permission denied/);
    expect(await admittedRestricted(NGINX_NON_ROOT)).toEqual({ code: 0, stderr: '' });
  });

  test('redis: root never used; non-root, read-only root fs; it serves; restricted admission accepts it', async () => {
    const { advice, patch } = await traceAndAdvise(REDIS);
    const [c] = advice.containers;
    expect(c.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(advice.podSecurityStandard.level).toBe('restricted');
    const pod = await enforce(REDIS, patch);
    // The container's root mount is read-only now (mountinfo: mount point "/", options "ro,…").
    const root = await exec(pod, [
      'sh',
      '-c',
      "grep -E '^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / ro[, ]' /proc/self/mountinfo",
    ]);
    expect(root.code ? root.stderr || 'no read-only root mount' : '').toBe('');
    expect(await admittedRestricted(REDIS)).toEqual({ code: 0, stderr: '' });
  });

  test('a seccomp and a securitycontext session on the same pod at once: both complete', async () => {
    const pod = await podOf(REDIS);
    const sc = (await ok(['seccomp', 'start', '-n', NS, '-p', pod.metadata.name])).trim();
    const cap = (await ok(['securitycontext', 'start', '-n', NS, '-p', pod.metadata.name])).trim();
    for (let i = 0; i < 3; i++) await fromClient(REDIS.exercise, pod.status.podIP ?? '');
    const profile = JSON.parse(await ok(['seccomp', 'stop', sc, '-n', NS])) as {
      syscalls: { names: string[] }[];
    };
    expect(profile.syscalls[0].names).toEqual(expect.arrayContaining(['read', 'write']));
    const advice = load(await ok(['sc', 'stop', cap, '-n', NS])) as Advice;
    expect(advice.containers.map((c) => c.name)).toEqual(['main']);
  });

  test('bad input: a container that does not exist; a session on a running pod names what it missed', async () => {
    const pod = await podOf(REDIS);
    const bad = await harden(['sc', 'start', '-n', NS, '-p', pod.metadata.name, '-c', 'nope']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(
      `container "nope" not found in pod "${pod.metadata.name}" in namespace "${NS}"`,
    );
    const id = (await ok(['sc', 'start', '-n', NS, '-p', pod.metadata.name])).trim();
    await fromClient(REDIS.exercise, pod.status.podIP ?? '');
    const stop = await harden(['sc', 'stop', id, '-n', NS]);
    expect(stop.code).toBe(0);
    expect(stop.stderr).toMatch(/already running when the session started/);
    const advice = load(stop.stdout) as Advice;
    // Nothing its start-up decides is advised (the spec keeps what the earlier test patched in).
    expect(Object.keys(advice.containers[0].securityContext)).toEqual(['seccompProfile']);
    expect(advice.containers[0].notObserved.join(' ')).toMatch(/start-up/);
  });

  test('a workload deleted during the session: the advice still prints and says its pods are gone', async () => {
    const id = (await ok(['sc', 'start', '-n', NS, '-l', 'app=redis'])).trim();
    await kubectl(['-n', NS, 'rollout', 'restart', 'deployment/redis']);
    const pod = await podOf(REDIS);
    await fromClient(REDIS.exercise, pod.status.podIP ?? '');
    await kubectl(['-n', NS, 'delete', 'deployment', 'redis', '--wait=true']);
    const stop = await harden(['sc', 'stop', id, '-n', NS, '--keep']);
    expect(stop.code ? stop.stderr : '').toBe('');
    expect(stop.stderr).toMatch(/no pod of redis is left/);
    const patch = await harden(['sc', 'show', id, '-n', NS, '-o', 'patch']);
    expect(patch.code).not.toBe(0);
    expect(patch.stderr).toMatch(/the owner of redis is unknown/);
    expect(patch.stdout).toBe('');
    await kubectl(['-n', NS, 'delete', 'tracesession', id]);
  });
});
