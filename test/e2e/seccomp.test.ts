// The seccomp flow end to end on the test node, proven the way a user enforces a profile: trace an
// nginx pod that kubelet runs, put the generated profile into kubelet's seccomp root, start a NEW pod
// under `seccompProfile: {type: Localhost}`, and check it serves while a syscall nginx never made
// fails with EPERM. The agent is the DaemonSet pod `kubectl harden deploy --image` installs.
import { sessionPhase } from '../../lib/session/phase';
import { sessionWithRecords } from '../support/session-object';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AGENT_NAMESPACE,
  agentPod,
  deployAgent,
  patchAgentTemplate,
  restoreAgent,
  type Deployed,
} from '../support/agent-pod';
import { harden, REPO_ROOT, testenvEnv } from '../support/cluster';
import { kubectl, kubectlJson } from '../support/exec';
import { eventually } from '../support/eventually';
import { httpStatus } from '../support/http';
import {
  apply,
  deleteNamespace,
  ensureNamespace,
  execInKubePod,
  getPod,
  installSeccompProfile,
  removeSeccompProfile,
  runKubePod,
  testImage,
  waitPodsReady,
  type KubePod,
  type PodOptions,
} from '../support/kube-pods';

const NS = 'e2e-seccomp';
const PRE_FILTER = ['mount', 'pivot_root', 'unshare', 'setns'];
/** What nginx never does: creating a symlink (coreutils `ln -s` uses symlinkat). */
const NEVER = ['symlink', 'symlinkat'];
const NEVER_COMMAND = ['ln', '-s', '/etc/hostname', '/tmp/never-linked'];
/**
 * A server that initializes after its container started, as many do: the pod is Running when the
 * session starts, yet nginx starts (and loads, binds, listens) only once /tmp/go exists. What a
 * container did before a session can never be recorded; the runtime's part is then added from the list.
 */
const LATE_NGINX = ['sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.2; done; exec nginx -g "daemon off;"'];

interface Profile {
  defaultAction: string;
  architectures: string[];
  syscalls: { names: string[]; action: string }[];
}

let deployed: Deployed | undefined;
let client: KubePod;
const installed: string[] = [];

const ip = async (name: string) => (await getPod(NS, name)).status.podIP ?? '';

const curl = (url: string) => httpStatus(NS, client.metadata.name, url);

async function serve(pod: string, times = 3): Promise<void> {
  const url = `http://${await ip(pod)}/`;
  // A just-started nginx may not listen yet: wait for the first answer, then count the real ones.
  await eventually(
    () => curl(url),
    (r) => r === '200',
    { what: `${pod} answering`, withinMs: 20_000 },
  );
  for (let i = 0; i < times; i++) expect(await curl(url)).toBe('200');
}

async function ok(args: string[]): Promise<string> {
  const r = await harden(args);
  if (r.code !== 0) throw new Error(`kubectl harden ${args.join(' ')} -> ${r.code}\n${r.stderr}`);
  return r.stdout;
}

const phase = async (id: string) => sessionPhase(await sessionWithRecords(NS, id));

/** A session the agent traces: started, and its status says Tracing. */
async function startTracing(args: string[]): Promise<string> {
  const id = (await ok(['seccomp', 'start', '-n', NS, ...args])).trim();
  await eventually(
    () => phase(id),
    (p) => p === 'Tracing',
    { what: `session ${id} tracing`, withinMs: 60_000 },
  );
  return id;
}

const nginx = (name: string, extra: Partial<PodOptions> = {}): PodOptions => ({
  namespace: NS,
  name,
  image: testImage('nginx'),
  labels: { app: name },
  readyPort: 80,
  ...extra,
});

/**
 * Enforce as a user does: the profile into kubelet's seccomp root, a new pod under it (Localhost) that
 * starts and serves, and a syscall nginx never made (symlinkat) refused with EPERM.
 */
async function prove(profile: Profile, pod: PodOptions, trigger?: string[]): Promise<void> {
  const names = profile.syscalls[0].names;
  for (const s of PRE_FILTER) expect(names).not.toContain(s);
  for (const s of NEVER) expect(names).not.toContain(s);
  const rel = `${NS}/${pod.name}.json`;
  installed.push(rel);
  const seccompProfile = installSeccompProfile(rel, profile);
  await runKubePod({ ...pod, securityContext: { ...pod.securityContext, seccompProfile } });
  if (trigger) expect((await execInKubePod(NS, pod.name, trigger)).code).toBe(0);
  await serve(pod.name);
  const denied = await execInKubePod(NS, pod.name, NEVER_COMMAND);
  expect(denied.code).not.toBe(0);
  expect(denied.stderr).toMatch(/Operation not permitted/);
}

beforeAll(async () => {
  await ensureNamespace(NS);
  deployed = await deployAgent();
  process.stdout.write(`deploy --image -> agent Ready: ${deployed.readyMs.toFixed(0)} ms\n`);
  client = await runKubePod({
    namespace: NS,
    name: 'client',
    image: testImage('curl'),
    labels: { app: 'client' },
  });
}, 300_000);

afterAll(async () => {
  await deleteNamespace(NS).catch(() => undefined);
  for (const p of installed) removeSeccompProfile(p);
  await restoreAgent(deployed);
}, 300_000);

describe('profiles that let the workload run', () => {
  test('session before the pod starts, pod under RuntimeDefault: runtime window recorded, no list added', async () => {
    const id = await startTracing(['-l', 'app=web-filtered']);
    await runKubePod(
      nginx('web-filtered', { securityContext: { seccompProfile: { type: 'RuntimeDefault' } } }),
    );
    await serve('web-filtered');
    const r = await harden(['seccomp', 'stop', id, '-n', NS]);
    expect(r.code ? r.stderr : '').toBe('');
    expect(r.stderr).toContain('no runtime list added');
    const profile = JSON.parse(r.stdout) as Profile;
    expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(profile.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const names = profile.syscalls[0].names;
    expect(names).toEqual([...names].sort());
    // Recorded, not listed: runc's own post-filter execve is there because it was seen.
    expect(names).toEqual(expect.arrayContaining(['execve', 'bind', 'listen']));
    expect(names.some((n) => n === 'accept' || n === 'accept4')).toBe(true);
    process.stdout.write(`profile under RuntimeDefault: ${names.length} syscalls: ${names.join(' ')}\n`);
    await prove(profile, nginx('confined-filtered'));
  });

  test("a threaded workload under RuntimeDefault (redis): clone3 never seen, answered ENOSYS, so glibc's threads start confined", async () => {
    const redis = (name: string, securityContext: Record<string, unknown>): PodOptions => ({
      namespace: NS,
      name,
      image: testImage('redis'),
      labels: { app: name },
      securityContext,
      readyExec: ['redis-cli', 'ping'],
    });
    const ping = async (pod: string) => (await execInKubePod(NS, pod, ['redis-cli', 'ping'])).stdout.trim();
    const id = await startTracing(['-l', 'app=redis-filtered']);
    await runKubePod(redis('redis-filtered', { seccompProfile: { type: 'RuntimeDefault' } }));
    expect(await ping('redis-filtered')).toBe('PONG');
    const r = await harden(['seccomp', 'stop', id, '-n', NS]);
    expect(r.code ? r.stderr : '').toBe('');
    expect(r.stderr).toContain('clone3 not seen: answered ENOSYS');
    const profile = JSON.parse(r.stdout) as Profile;
    // The runtime default answered clone3 before the tracepoint; glibc fell back to clone.
    expect(profile.syscalls[0].names).toContain('clone');
    expect(profile.syscalls[0].names).not.toContain('clone3');
    expect(profile.syscalls.slice(1)).toEqual([
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
    ]);
    const rel = `${NS}/redis-confined.json`;
    installed.push(rel);
    // redis starts its background threads at once and exits if one cannot be created.
    await runKubePod(redis('redis-confined', { seccompProfile: installSeccompProfile(rel, profile) }));
    expect(await ping('redis-confined')).toBe('PONG');
    const denied = await execInKubePod(NS, 'redis-confined', NEVER_COMMAND);
    expect(denied.stderr).toMatch(/Operation not permitted/);
  });

  test('the same without a filter: the documented runc list is added and named', async () => {
    const id = await startTracing(['-l', 'app=web-plain']);
    await runKubePod(nginx('web-plain'));
    await serve('web-plain');
    const r = await harden(['seccomp', 'stop', id, '-n', NS]);
    expect(r.code ? r.stderr : '').toBe('');
    expect(r.stderr).toMatch(/added runc's post-filter syscalls because .*ran without a seccomp filter/);
    expect(r.stderr).toContain('source:');
    const plain = JSON.parse(r.stdout) as Profile;
    process.stdout.write(
      `profile without a filter: ${plain.syscalls[0].names.length} syscalls; ${r.stderr}\n`,
    );
    await prove(plain, nginx('confined-plain'));
  });

  test('a session on an already-running pod: start not seen, list added', async () => {
    const late = (name: string) => nginx(name, { command: LATE_NGINX, readyPort: undefined });
    await runKubePod(late('web-running'));
    const id = await startTracing(['-p', 'web-running']);
    expect((await execInKubePod(NS, 'web-running', ['touch', '/tmp/go'])).code).toBe(0);
    await serve('web-running');
    // show reads what the agents flushed so far (every few seconds): poll until it has something.
    const shown = await eventually(
      () => harden(['seccomp', 'show', id, '-n', NS]),
      (r) => r.code === 0,
      { withinMs: 15_000, everyMs: 500 },
    );
    expect(shown.stdout).toContain('SCMP_ACT_ALLOW');
    const r = await harden(['seccomp', 'stop', id, '-n', NS]);
    expect(r.code ? r.stderr : '').toBe('');
    expect(r.stderr).toMatch(/start not seen/);
    expect(r.stderr).toMatch(/already running when the session started/);
    await prove(JSON.parse(r.stdout) as Profile, late('confined-running'), ['touch', '/tmp/go']);
  });

  test('-o crd is accepted by the API server (SeccompProfile v1beta1)', async () => {
    await kubectl(['apply', '-f', join(__dirname, '..', 'fixtures', 'seccompprofile-crd.yaml')]);
    await kubectl([
      'wait',
      '--for=condition=Established',
      'crd/seccompprofiles.security-profiles-operator.x-k8s.io',
    ]);
    const id = await startTracing(['-p', 'client']);
    await execInKubePod(NS, 'client', ['true']);
    const crd = await ok(['seccomp', 'stop', id, '-n', NS, '-o', 'crd']);
    expect(crd).toContain('kind: SeccompProfile');
    const applied = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: crd });
    expect(applied).toContain(
      `seccompprofile.security-profiles-operator.x-k8s.io/${NS}.client-main created (server dry run)`,
    );
  });

  test('each container of a pod that starts after the session gets its own profile', async () => {
    const id = await startTracing(['-l', 'app=two']);
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'two', namespace: NS, labels: { app: 'two' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            { name: 'web', image: testImage('nginx') },
            {
              name: 'sidecar',
              image: testImage('curl'),
              command: ['sh', '-c', 'mkdir /tmp/side && exec sleep infinity'],
            },
          ],
        },
      },
    ]);
    await waitPodsReady(NS, 'app=two');
    await serve('two', 1);
    const outDir = mkdtempSync(join(tmpdir(), 'harden-profiles-'));
    const paths = await ok(['seccomp', 'stop', id, '-n', NS, '--output-dir', outDir]);
    expect(readdirSync(outDir).sort()).toEqual([`${NS}-two-sidecar.json`, `${NS}-two-web.json`]);
    expect(paths.trim().split('\n')).toHaveLength(2);
  });
});

describe('bad input: a clear error, a non-zero exit, nothing left behind', () => {
  const sessions = async () =>
    JSON.parse((await ok(['seccomp', 'list', '-A', '-o', 'json'])) || '{"items":[]}').items as unknown[];

  test.each([
    [['-n', 'no-such-ns', '-p', 'x'], 'namespace "no-such-ns" not found'],
    [['-n', NS, '-p', 'no-such-pod'], 'pod "no-such-pod" not found in namespace "e2e-seccomp"'],
    [['-n', NS, '-p', 'client', '-c', 'nope'], 'container "nope" not found in pod "client"'],
  ])('start %j', async (args, message) => {
    const before = (await sessions()).length;
    const r = await harden(['seccomp', 'start', ...args]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
    expect((await sessions()).length).toBe(before);
  });

  test('a pod that is not Running (its image cannot be pulled)', async () => {
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'pending', namespace: NS },
        spec: { containers: [{ name: 'main', image: '127.0.0.1:5000/does-not-exist:1' }] },
      },
    ]);
    const r = await harden(['seccomp', 'start', '-n', NS, '-p', 'pending']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is Pending, not Running');
  });

  test('unknown and already-stopped session ids', async () => {
    const unknown = await harden(['seccomp', 'stop', 'sc-nope', '-n', NS]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('seccomp session "sc-nope" not found in namespace "e2e-seccomp"');
    const id = await startTracing(['-p', 'client']);
    await execInKubePod(NS, 'client', ['true']);
    await ok(['seccomp', 'stop', id, '-n', NS, '--keep']);
    const again = await harden(['seccomp', 'stop', id, '-n', NS]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is already stopped');
    expect(again.stderr).toContain(`kubectl harden seccomp show ${id}`);
  });

  test('--output-dir that is not writable: the session is untouched and nothing is written', async () => {
    const id = await startTracing(['-p', 'client']);
    // root ignores mode bits; a path under a regular file is unwritable for everyone.
    await execInKubePod(NS, 'client', ['true']);
    const r = await harden(['seccomp', 'stop', id, '-n', NS, '--output-dir', '/proc/version/x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--output-dir /proc/version/x is not a writable directory');
    const list = JSON.parse(await ok(['seccomp', 'list', '-n', NS, '-o', 'json'])) as {
      items: { metadata: { name: string }; spec: { state: string } }[];
    };
    expect(list.items.find((s) => s.metadata.name === id)?.spec.state).toBe('Running');
    await ok(['seccomp', 'stop', id, '-n', NS]);
  });

  test('the agent failing its readiness probe: start is refused, naming the node', async () => {
    const agent = await agentPod();
    const inAgent = (cmd: string) =>
      execInKubePod(AGENT_NAMESPACE, agent.metadata.name, ['sh', '-c', cmd], { container: 'agent' });
    const ready = async () =>
      (await getPod(AGENT_NAMESPACE, agent.metadata.name)).status.conditions?.find((c) => c.type === 'Ready')
        ?.status;
    // The file the probe reads (READY_FILE), gone: kubelet marks the pod unready after a few probes.
    const saved = await inAgent('cat /run/harden/ready');
    expect(saved.code).toBe(0);
    expect((await inAgent('rm /run/harden/ready')).code).toBe(0);
    try {
      await eventually(ready, (s) => s === 'False', {
        what: 'agent pod unready',
        withinMs: 60_000,
        everyMs: 1000,
      });
      const r = await harden(['seccomp', 'start', '-n', NS, '-p', 'client']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('the agent is not ready on node "harden-node"');
    } finally {
      await inAgent(`printf '%s' '${saved.stdout.trim()}\n' > /run/harden/ready`);
      await eventually(ready, (s) => s === 'True', {
        what: 'agent pod ready again',
        withinMs: 60_000,
        everyMs: 1000,
      });
    }
  });

  test('Ctrl-C while stop waits: the session stays, and the printed command resumes it', async () => {
    const id = await startTracing(['-p', 'client']);
    await execInKubePod(NS, 'client', ['true']);
    // Let one flush land first: an agent gone loses at most what happened since the last one.
    await eventually(
      () => harden(['seccomp', 'show', id, '-n', NS]),
      (r) => r.code === 0,
      { what: 'a first flush', withinMs: 15_000 },
    );
    // No agent on the node (the DaemonSet selects no node), so no final flush: stop has to wait.
    const pin = (selector: object | null) =>
      patchAgentTemplate('merge', { spec: { template: { spec: { nodeSelector: selector } } } });
    await pin({ 'harden.dev/e2e-no-such-node': 'true' });
    try {
      await eventually(
        () =>
          kubectlJson<{ items: unknown[] }>([
            'get',
            'pods',
            '-n',
            AGENT_NAMESPACE,
            '-l',
            'app.kubernetes.io/name=harden-agent',
          ]),
        (l) => l.items.length === 0,
        { what: 'agent pod gone', withinMs: 60_000 },
      );
      const child = spawn(
        process.execPath,
        [join(REPO_ROOT, 'dist', 'kubectl-harden.cjs'), 'seccomp', 'stop', id, '-n', NS],
        {
          env: testenvEnv().processEnv,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      await eventually(
        async () => stderr,
        (text) => text.includes('waiting for the final flush'),
        { what: 'stop waiting for the final flush', withinMs: 15_000 },
      );
      child.kill('SIGINT');
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      expect(code).toBe(130);
      expect(stderr).toContain(`Resume with: kubectl harden seccomp stop ${id} -n ${NS}`);
    } finally {
      await pin(null);
    }
    await agentPod();
    // The client ran on while no agent traced it: stop names that gap, and takes the profile only when told to.
    const refused = await harden(['seccomp', 'stop', id, '-n', NS]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    // The agent pod left and a new one came: named as a restart or, with the pod's own start-up,
    // as several interruptions.
    expect(refused.stderr).toMatch(
      /client\/main was not traced from \S+ to \S+ \([\d.]+ s\): (the node agent was not running|several interruptions)/,
    );
    const resumed = await ok(['seccomp', 'stop', id, '-n', NS, '--accept-gaps']);
    expect(JSON.parse(resumed).defaultAction).toBe('SCMP_ACT_ERRNO');
  });
});
