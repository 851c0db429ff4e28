// The seccomp flow end to end, proven by enforcement: trace a served busybox httpd, generate its
// profile, run a NEW runc container under that profile, and check it serves while a syscall it never
// made fails with EPERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type Agent } from '../support/agent';
import { harden, REPO_ROOT, testenvEnv } from '../support/cluster';
import { kubectl } from '../support/exec';
import {
  cleanupAll,
  ensureNamespace,
  execInPod,
  runPod,
  startContainer,
  type ContainerSpec,
  type Pod,
} from '../support/pods';
import { RUNTIME_DEFAULT_LIKE } from '../support/profiles';
import { eventually } from '../support/eventually';

const NS = 'e2e-seccomp';
const PRE_FILTER = ['mount', 'pivot_root', 'unshare', 'setns'];

interface Profile {
  defaultAction: string;
  architectures: string[];
  syscalls: { names: string[]; action: string }[];
}

let agent: Agent;
let client: Pod;

const HTTPD = ['httpd', '-f', '-p', '80', '-h', '/www'];
const httpd = (seccompProfile?: object, args = HTTPD): ContainerSpec => ({
  name: 'httpd',
  args,
  seccompProfile,
});
/**
 * A server that initializes after its container started, as many do: the pod is Running when the
 * session starts, yet its serving code (socket, bind, listen) runs under trace. What a container
 * did before a session can never be recorded; the runtime's part is then added from the list.
 */
const LATE_HTTPD = ['sh', '-c', 'sleep 4; exec httpd -f -p 80 -h /www'];

async function serve(from: Pod, to: Pod, times = 3): Promise<void> {
  // A just-started httpd may not listen yet: wait for the first answer, then count the real ones.
  await eventually(
    () => execInPod(from, 'client', ['timeout', '5', 'wget', '-q', '-O', '/dev/null', `http://${to.ip}/`]),
    (r) => r.code === 0,
    { withinMs: 10_000 },
  );
  for (let i = 0; i < times; i++) {
    const r = await execInPod(from, 'client', ['timeout', '5', 'wget', '-q', '-O', '-', `http://${to.ip}/`]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  }
}

async function ok(args: string[]): Promise<string> {
  const r = await harden(args);
  if (r.code !== 0) throw new Error(`kubectl harden ${args.join(' ')} -> ${r.code}\n${r.stderr}`);
  return r.stdout;
}

/** Enforce: a new container under the profile starts, serves, and mkdir fails with EPERM. */
async function prove(profile: Profile, name: string, args = HTTPD): Promise<void> {
  for (const s of PRE_FILTER) expect(profile.syscalls[0].names).not.toContain(s);
  const confined = await runPod({
    namespace: NS,
    name,
    labels: { app: name },
    containers: [httpd(profile, args)],
  });
  await serve(client, confined);
  const denied = await execInPod(confined, 'httpd', ['sh', '-c', 'mkdir /tmp/never-made']);
  expect(denied.code).not.toBe(0);
  expect(denied.stderr).toMatch(/Operation not permitted/);
}

beforeAll(async () => {
  await ensureNamespace(NS);
  expect((await harden(['deploy', '--wait=false'])).code).toBe(0);
  agent = await startAgent();
  await ok(['deploy', '--timeout', '60s']);
  client = await runPod({
    namespace: NS,
    name: 'client',
    labels: { app: 'client' },
    containers: [{ name: 'client', args: ['sleep', '3600'] }],
  });
});

afterAll(async () => {
  await cleanupAll();
  await agent?.stop();
  await harden(['undeploy', '--force']);
});

describe('profiles that let the workload run', () => {
  const notes: Record<string, string> = {};

  test('session before the pod starts, container under a RuntimeDefault-like filter: runtime window recorded, no list added', async () => {
    const id = (await ok(['seccomp', 'start', '-n', NS, '-l', 'app=web-filtered'])).trim();
    const web = await runPod({
      namespace: NS,
      name: 'web-filtered',
      labels: { app: 'web-filtered' },
      containers: [httpd(RUNTIME_DEFAULT_LIKE)],
    });
    await serve(client, web);
    const r = await harden(['seccomp', 'stop', id, '-n', NS]);
    expect(r.code ? r.stderr : '').toBe('');
    notes.filtered = r.stderr;
    expect(r.stderr).toContain('no runtime list added');
    const profile = JSON.parse(r.stdout) as Profile;
    expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(profile.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const names = profile.syscalls[0].names;
    expect(names).toEqual([...names].sort());
    // Recorded, not listed: the runtime's own post-filter calls are there because they were seen.
    expect(names).toEqual(expect.arrayContaining(['execve', 'capset', 'accept', 'bind', 'listen']));
    process.stdout.write(`profile under a filter: ${names.length} syscalls: ${names.join(' ')}\n`);
    await prove(profile, 'confined-filtered');
  });

  test('the same without a filter: the documented runc list is added and named', async () => {
    const id = (await ok(['seccomp', 'start', '-n', NS, '-l', 'app=web-plain'])).trim();
    const web = await runPod({
      namespace: NS,
      name: 'web-plain',
      labels: { app: 'web-plain' },
      containers: [httpd()],
    });
    await serve(client, web);
    const r = await harden(['seccomp', 'stop', id, '-n', NS]);
    expect(r.code ? r.stderr : '').toBe('');
    expect(r.stderr).toMatch(/added runc's post-filter syscalls because .*ran without a seccomp filter/);
    expect(r.stderr).toContain('source:');
    const plain = JSON.parse(r.stdout) as Profile;
    process.stdout.write(
      `profile without a filter: ${plain.syscalls[0].names.length} syscalls; ${r.stderr}\n`,
    );
    await prove(plain, 'confined-plain');
  });

  test('a session on an already-running pod: start not seen, list added', async () => {
    const web = await runPod({
      namespace: NS,
      name: 'web-running',
      labels: { app: 'web-running' },
      containers: [httpd(undefined, LATE_HTTPD)],
    });
    const id = (await ok(['seccomp', 'start', '-n', NS, '-p', 'web-running'])).trim();
    await serve(client, web);
    // show reads what the agents flushed so far (every few seconds): poll until it has something.
    const shown = await eventually(
      () => harden(['seccomp', 'show', id, '-n', NS]),
      (r) => r.code === 0,
      { withinMs: 10_000, everyMs: 500 },
    );
    expect(shown.stdout).toContain('SCMP_ACT_ALLOW');
    const r = await harden(['seccomp', 'stop', id, '-n', NS]);
    expect(r.code ? r.stderr : '').toBe('');
    expect(r.stderr).toMatch(/start not seen/);
    expect(r.stderr).toMatch(/already running when the session started/);
    await prove(JSON.parse(r.stdout) as Profile, 'confined-running', LATE_HTTPD);
  });

  test('-o crd is accepted by the API server (SeccompProfile v1beta1)', async () => {
    await kubectl(['apply', '-f', join(__dirname, '..', 'fixtures', 'seccompprofile-crd.yaml')]);
    await kubectl([
      'wait',
      '--for=condition=Established',
      'crd/seccompprofiles.security-profiles-operator.x-k8s.io',
    ]);
    const id = (await ok(['seccomp', 'start', '-n', NS, '-p', 'client'])).trim();
    await execInPod(client, 'client', ['true']);
    const crd = await ok(['seccomp', 'stop', id, '-n', NS, '-o', 'crd']);
    expect(crd).toContain('kind: SeccompProfile');
    const applied = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: crd });
    expect(applied).toMatch(
      /seccompprofile.security-profiles-operator.x-k8s.io\/client-client created \(server dry run\)/,
    );
  });

  test('a sidecar that starts later joins the session and is recorded from its start', async () => {
    const id = (await ok(['seccomp', 'start', '-n', NS, '-l', 'app=two'])).trim();
    const pod = await runPod({
      namespace: NS,
      name: 'two',
      labels: { app: 'two' },
      containers: [httpd(), { name: 'sidecar', args: ['sh', '-c', 'mkdir /tmp/side && sleep 3600'] }],
      start: false,
    });
    await startContainer(pod, 'httpd');
    await startContainer(pod, 'sidecar');
    const outDir = mkdtempSync(join(tmpdir(), 'harden-profiles-'));
    const paths = await ok(['seccomp', 'stop', id, '-n', NS, '--output-dir', outDir]);
    expect(readdirSync(outDir).sort()).toEqual([`${NS}-two-httpd.json`, `${NS}-two-sidecar.json`]);
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

  test('a pod that is not Running', async () => {
    await runPod({ namespace: NS, name: 'pending', containers: [httpd()], start: false });
    await kubectl([
      'patch',
      'pod',
      'pending',
      '-n',
      NS,
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"phase":"Pending"}}',
    ]);
    const r = await harden(['seccomp', 'start', '-n', NS, '-p', 'pending']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is Pending, not Running');
  });

  test('unknown and already-stopped session ids', async () => {
    const unknown = await harden(['seccomp', 'stop', 'sc-nope', '-n', NS]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('seccomp session "sc-nope" not found in namespace "e2e-seccomp"');
    const id = (await ok(['seccomp', 'start', '-n', NS, '-p', 'client'])).trim();
    await execInPod(client, 'client', ['true']);
    await ok(['seccomp', 'stop', id, '-n', NS, '--keep']);
    const again = await harden(['seccomp', 'stop', id, '-n', NS]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is already stopped');
    expect(again.stderr).toContain(`kubectl harden seccomp show ${id}`);
  });

  test('--output-dir that is not writable: the session is untouched and nothing is written', async () => {
    const id = (await ok(['seccomp', 'start', '-n', NS, '-p', 'client'])).trim();
    // root ignores mode bits; a path under a regular file is unwritable for everyone.
    await execInPod(client, 'client', ['true']);
    const r = await harden(['seccomp', 'stop', id, '-n', NS, '--output-dir', '/proc/version/x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--output-dir /proc/version/x is not a writable directory');
    const list = JSON.parse(await ok(['seccomp', 'list', '-n', NS, '-o', 'json'])) as {
      items: { metadata: { name: string }; spec: { state: string } }[];
    };
    expect(list.items.find((s) => s.metadata.name === id)?.spec.state).toBe('Running');
    await ok(['seccomp', 'stop', id, '-n', NS]);
  });
  test("the agent not ready on the pod's node: refused, naming the node", async () => {
    const dsPod = JSON.parse(
      await kubectl([
        'get',
        'pods',
        '-n',
        'harden-system',
        '-l',
        'app.kubernetes.io/name=harden-agent',
        '-o',
        'json',
      ]),
    ).items[0].metadata.name as string;
    const ready = (v: string) =>
      kubectl([
        'patch',
        'pod',
        dsPod,
        '-n',
        'harden-system',
        '--subresource=status',
        '--type=strategic',
        '-p',
        JSON.stringify({ status: { conditions: [{ type: 'Ready', status: v }] } }),
      ]);
    await ready('False');
    try {
      const r = await harden(['seccomp', 'start', '-n', NS, '-p', 'client']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('the agent is not ready on node "harden-node"');
    } finally {
      await ready('True');
    }
  });

  test('Ctrl-C while stop waits: the session stays, and the printed command resumes it', async () => {
    const id = (await ok(['seccomp', 'start', '-n', NS, '-p', 'client'])).trim();
    await execInPod(client, 'client', ['true']);
    // Let one flush land first: a kill -9 loses at most what happened since the last one.
    await eventually(
      () => harden(['seccomp', 'show', id, '-n', NS]),
      (r) => r.code === 0,
      { what: 'a first flush', withinMs: 10_000 },
    );
    await agent.kill9(); // no agent, so no final flush: stop has to wait
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
      { what: 'stop waiting for the final flush', withinMs: 10_000 },
    );
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(130);
    expect(stderr).toContain(`Resume with: kubectl harden seccomp stop ${id} -n ${NS}`);
    await agent.start();
    // The client ran on while no agent traced it: stop names that gap, and takes the profile only when told to.
    const refused = await harden(['seccomp', 'stop', id, '-n', NS]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(
      /client\/client was not traced from \S+ to \S+ \([\d.]+ s\): the node agent was not running/,
    );
    const resumed = await ok(['seccomp', 'stop', id, '-n', NS, '--accept-gaps']);
    expect(JSON.parse(resumed).defaultAction).toBe('SCMP_ACT_ERRNO');
  });
});
