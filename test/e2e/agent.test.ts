// The agent on its own: sessions in, syscall numbers out, through the real API server with the
// RBAC `deploy` installs, including a kill -9 in the middle of a session.
import { existsSync, readFileSync } from 'node:fs';
import { startAgent, type Agent } from '../support/agent';
import { harden } from '../support/cluster';
import { kubectl, kubectlJson } from '../support/exec';
import {
  cleanupAll,
  deletePod,
  ensureNamespace,
  execInPod,
  restartContainer,
  runPod,
  type Pod,
} from '../support/pods';
import { eventually } from '../support/eventually';

const NS = 'e2e-agent';
const MKDIR = 83; // x86_64
const RMDIR = 84;
let agent: Agent;
let pod: Pod;

interface Status {
  phase?: string;
  conditions?: { type: string; status: string; reason: string; message: string }[];
  nodes?: {
    node: string;
    final: boolean;
    lastFlush?: string;
    containers: { container: string; containerID: string; recordedFromStart: boolean; syscalls: number[] }[];
  }[];
}

const status = async (name: string) =>
  (await kubectlJson<{ status?: Status }>(['get', 'tracesession', name, '-n', NS])).status ?? {};
const syscalls = (s: Status) => s.nodes?.flatMap((n) => n.containers.flatMap((c) => c.syscalls)) ?? [];

/** Waits until `ok` holds for the session's status, failing with `what` and the last status if not. */
const until = <T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000) =>
  eventually(get, ok, { what, withinMs: ms, everyMs: 200 });

function session(name: string, target: object) {
  return kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'harden.dev/v1alpha1',
      kind: 'TraceSession',
      metadata: { name, namespace: NS, labels: { 'harden.dev/type': 'seccomp' } },
      spec: { type: 'seccomp', state: 'Running', target },
    }),
  });
}

beforeAll(async () => {
  await ensureNamespace(NS);
  expect((await harden(['deploy', '--wait=false'])).code).toBe(0);
  agent = await startAgent();
  expect((await harden(['deploy', '--timeout', '60s'])).code).toBe(0);
  pod = await runPod({
    namespace: NS,
    name: 'busy',
    containers: [{ name: 'main', args: ['sleep', '3600'] }],
  });
});

afterAll(async () => {
  await cleanupAll();
  await agent?.stop();
  await harden(['undeploy', '--force']);
});

test('a session records what the container does: mkdir appears after it runs mkdir, not before', async () => {
  const t0 = process.hrtime.bigint();
  await session('sc-mkdir', { podName: 'busy' });
  const first = await until(
    'first status',
    () => status('sc-mkdir'),
    (s) => s.phase === 'Tracing',
  );
  process.stdout.write(
    `session creation -> Tracing: ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms\n`,
  );
  expect(first.nodes?.map((n) => n.node)).toEqual(['harden-node']);
  await execInPod(pod, 'main', ['true']);
  const before = await until(
    'a flush',
    () => status('sc-mkdir'),
    (s) => syscalls(s).length > 0,
  );
  expect(syscalls(before)).not.toContain(MKDIR);
  await execInPod(pod, 'main', ['mkdir', '/tmp/made']);
  const after = await until(
    'mkdir recorded',
    () => status('sc-mkdir'),
    (s) => syscalls(s).includes(MKDIR),
  );
  expect(after.nodes?.[0].containers.map((c) => c.container)).toEqual(['main']);
});

test('kill -9 and restart: the agent resumes the session and keeps what it had flushed', async () => {
  await session('sc-kill', { podName: 'busy' });
  await until(
    'tracing',
    () => status('sc-kill'),
    (s) => s.phase === 'Tracing',
  );
  await execInPod(pod, 'main', ['mkdir', '/tmp/before-kill']);
  await until(
    'mkdir flushed',
    () => status('sc-kill'),
    (s) => syscalls(s).includes(MKDIR),
  );
  // Busy-loop the pod a little to report the agent's cost while tracing.
  await execInPod(pod, 'main', ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); : > /tmp/x; done']);
  const pid = agent.pid ?? 0;
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  process.stdout.write(`agent RSS while tracing: ${(rssKiB / 1024).toFixed(1)} MiB\n`);
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  expect(children.length).toBeGreaterThan(0); // its bpftrace
  await agent.kill9();
  // A dead agent's bpftrace must not trace on for nobody (parent-death signal).
  await until(
    'bpftrace gone with its agent',
    async () => children.filter((c) => existsSync(`/proc/${c}`)),
    (l) => l.length === 0,
    5000,
  );
  // The status still shows what the killed agent wrote; only a flush by the new one (a new
  // lastFlush) saying Tracing proves its program is attached.
  const lastFlushBefore = (await status('sc-kill')).nodes?.[0].lastFlush;
  await agent.start();
  await until(
    'tracing again',
    () => status('sc-kill'),
    (s) =>
      s.phase === 'Tracing' &&
      s.nodes?.[0].lastFlush !== lastFlushBefore &&
      (s.nodes?.[0].containers.length ?? 0) > 0,
    30_000,
  );
  await execInPod(pod, 'main', ['rmdir', '/tmp/before-kill']);
  const s = await until(
    'rmdir recorded',
    () => status('sc-kill'),
    (v) => syscalls(v).includes(RMDIR),
    30_000,
  );
  expect(syscalls(s)).toEqual(expect.arrayContaining([MKDIR, RMDIR]));
});

test('a session naming a pod in another namespace is refused with a clear condition', async () => {
  await session('sc-elsewhere', { namespace: 'kube-system', podName: 'dns' });
  const s = await until(
    'refused',
    () => status('sc-elsewhere'),
    (v) => v.phase === 'Failed',
  );
  const accepted = s.conditions?.find((c) => c.type === 'Accepted');
  expect(accepted).toMatchObject({ status: 'False', reason: 'TargetOutsideNamespace' });
  expect(accepted?.message).toContain('a session may only trace pods in its own namespace');
});

test('a restarted container is followed (new container ID, recorded from its start), and a deleted pod keeps its records', async () => {
  const flaky = await runPod({
    namespace: NS,
    name: 'flaky',
    containers: [{ name: 'main', args: ['sleep', '3600'] }],
  });
  await session('sc-restart', { podName: 'flaky' });
  await until(
    'tracing',
    () => status('sc-restart'),
    (s) => s.phase === 'Tracing',
  );
  await execInPod(flaky, 'main', ['true']);
  const first = await until(
    'first instance',
    () => status('sc-restart'),
    (s) => (s.nodes?.[0].containers.length ?? 0) === 1,
  );
  const firstID = first.nodes?.[0].containers[0].containerID;
  const again = await restartContainer(flaky, 'main');
  await execInPod(flaky, 'main', ['mkdir', '/tmp/after-restart']);
  const both = await until(
    'second instance',
    () => status('sc-restart'),
    (s) =>
      (s.nodes?.[0].containers ?? []).some(
        (c) => c.containerID === `containerd://${again.id}` && c.syscalls.includes(MKDIR),
      ),
  );
  const second = both.nodes?.[0].containers.find((c) => c.containerID === `containerd://${again.id}`);
  expect(second?.recordedFromStart).toBe(true);
  expect(both.nodes?.[0].containers.map((c) => c.containerID)).toContain(firstID);
  await deletePod(flaky);
  // Two more flushes: the second began after the first had ended, so after the deletion was seen.
  const flushes: string[] = [];
  const kept = await until(
    'two flushes after the deletion',
    () => status('sc-restart'),
    (s) => {
      const last = s.nodes?.[0].lastFlush ?? '';
      if (flushes[flushes.length - 1] !== last) flushes.push(last);
      return flushes.length >= 3;
    },
    30_000,
  );
  expect(kept.nodes?.[0].containers.map((c) => c.containerID).sort()).toEqual(
    [firstID, `containerd://${again.id}`].sort(),
  );
});
