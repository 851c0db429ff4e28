// The agent on its own, as the DaemonSet pod kubelet runs from its image: sessions in, syscall numbers
// out, through the real API server with the RBAC `deploy` installs; kubelet pods in the cgroupfs layout
// (kubepods/<qos>/pod<uid>/<container id>), the agent pod deleted in the middle of a session.
import { sessionPhase } from '../../lib/session/phase';
import { sessionWithRecords } from '../support/session-object';
import { existsSync, readFileSync, statSync } from 'node:fs';
import {
  AGENT_NAMESPACE,
  agentPod,
  agentProgramParams,
  cgroupPids,
  containerCgroupDir,
  deployAgent,
  restoreAgent,
  type Deployed,
} from '../support/agent-pod';
import { kubectl } from '../support/exec';
import { eventually } from '../support/eventually';
import {
  containerIdOf,
  deleteNamespace,
  deleteObjects,
  ensureNamespace,
  execInKubePod,
  getPod,
  runKubePod,
  testImage,
  type KubePod,
} from '../support/kube-pods';

const NS = 'e2e-agent';
const EXECVE = 59; // x86_64
const MKDIR = 83;
const RMDIR = 84;
let deployed: Deployed | undefined;
let busy: KubePod;

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

/** The session's status as the plugin reads it: its nodes' records, and the phase derived from them. */
const status = async (name: string): Promise<Status> => {
  const s = await sessionWithRecords(NS, name);
  return { ...(s.status as Status | undefined), phase: sessionPhase(s) };
};
const syscalls = (s: Status) => s.nodes?.flatMap((n) => n.containers.flatMap((c) => c.syscalls)) ?? [];
const containers = (s: Status) => s.nodes?.flatMap((n) => n.containers) ?? [];

/** Waits until `ok` holds for the session's status, failing with `what` and the last status if not. */
const until = <T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000) =>
  eventually(get, ok, { what, withinMs: ms, everyMs: 250 });

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

const sleeper = (name: string, command?: string[]) =>
  runKubePod({ namespace: NS, name, image: testImage('curl'), ...(command ? { command } : {}) });

const run = async (pod: string, command: string[]) =>
  expect((await execInKubePod(NS, pod, command)).code).toBe(0);

beforeAll(async () => {
  await ensureNamespace(NS);
  deployed = await deployAgent();
  process.stdout.write(`deploy --image -> agent Ready: ${deployed.readyMs.toFixed(0)} ms\n`);
  busy = await sleeper('busy');
}, 300_000);

afterAll(async () => {
  await deleteNamespace(NS).catch(() => undefined);
  await restoreAgent(deployed);
}, 300_000);

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
  await run('busy', ['true']);
  const before = await until(
    'a flush',
    () => status('sc-mkdir'),
    (s) => syscalls(s).length > 0,
  );
  expect(syscalls(before)).not.toContain(MKDIR);
  await run('busy', ['mkdir', '/tmp/made']);
  const after = await until(
    'mkdir recorded',
    () => status('sc-mkdir'),
    (s) => syscalls(s).includes(MKDIR),
  );
  expect(containers(after).map((c) => c.container)).toEqual(['main']);
  expect(containers(after)[0].containerID).toBe(`containerd://${containerIdOf(busy)}`);
});

test('a session started before its pod exists records the container from its start', async () => {
  // A selector session reports Tracing with no pod yet (a pod-name session waits for its pod).
  await session('sc-later', { selector: { matchLabels: { app: 'later' } } });
  await until(
    'tracing before the pod exists',
    () => status('sc-later'),
    (s) => s.phase === 'Tracing',
  );
  const later = await runKubePod({
    namespace: NS,
    name: 'later',
    image: testImage('curl'),
    labels: { app: 'later' },
    command: ['sh', '-c', 'mkdir /tmp/first-thing && exec sleep infinity'],
  });
  // The cgroup the agent armed when kubelet made it: the cgroupfs driver's layout, in cgroup v2.
  const dir = containerCgroupDir(later);
  expect(dir).toMatch(/^\/sys\/fs\/cgroup\/unified\/kubepods\/besteffort\/pod[0-9a-f-]{36}\/[0-9a-f]{64}$/);
  expect(existsSync(dir)).toBe(true);
  const s = await until(
    'the container recorded from its start',
    () => status('sc-later'),
    (v) => syscalls(v).includes(MKDIR),
  );
  const [c] = containers(s);
  expect(c).toMatchObject({ container: 'main', recordedFromStart: true });
  expect(c.containerID).toBe(`containerd://${containerIdOf(later)}`);
  // The entrypoint's own execve (runc's last call) is there only because the start was seen.
  expect(c.syscalls).toContain(EXECVE);
});

test('the agent pod deleted mid-session: the DaemonSet brings it back, and the session resumes with what it had', async () => {
  await session('sc-kill', { podName: 'busy' });
  await until(
    'tracing',
    () => status('sc-kill'),
    (s) => s.phase === 'Tracing',
  );
  await run('busy', ['mkdir', '/tmp/before-kill']);
  await until(
    'mkdir flushed',
    () => status('sc-kill'),
    (s) => syscalls(s).includes(MKDIR),
  );
  // busy ran before the agent started this program, so the newest pod cgroup id the agent passed
  // bpftrace as it started it (the probe on every syscall compares cgroup ids with it before any
  // map lookup) is at least busy's own: the id kernfs gave its cgroup directory.
  const busyId = statSync(containerCgroupDir(await getPod(NS, 'busy')), { bigint: true }).ino;
  const params = agentProgramParams(await agentPod());
  expect(params.length).toBeGreaterThan(0);
  for (const p of params) {
    expect(p).toHaveLength(2);
    expect(BigInt(p[1])).toBeGreaterThanOrEqual(busyId);
  }
  // Busy-loop the pod a little to report the agent's cost while tracing, from its own cgroup.
  await run('busy', ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); : > /tmp/x; done']);
  const old = await agentPod();
  const pids = cgroupPids(containerCgroupDir(old, 'agent'));
  const comm = (pid: number) =>
    existsSync(`/proc/${pid}`) ? readFileSync(`/proc/${pid}/comm`, 'utf8').trim() : '';
  const rssKiB = pids
    .map((p) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0))
    .reduce((a, b) => a + b, 0);
  process.stdout.write(
    `agent pod RSS while tracing (${pids.map(comm).join(', ')}): ${(rssKiB / 1024).toFixed(1)} MiB\n`,
  );
  expect(pids.map(comm)).toContain('bpftrace');
  const lastFlushBefore = (await status('sc-kill')).nodes?.[0].lastFlush;
  await kubectl(['delete', 'pod', old.metadata.name, '-n', AGENT_NAMESPACE, '--wait=true']);
  // Nothing of the old pod traces on: its bpftrace went with it.
  expect(pids.filter((p) => comm(p) !== '')).toEqual([]);
  const fresh = await agentPod();
  expect(fresh.metadata.uid).not.toBe(old.metadata.uid);
  // The status still shows what the old agent wrote; only a flush by the new one (a new lastFlush)
  // saying Tracing proves its program is attached.
  await until(
    'tracing again',
    () => status('sc-kill'),
    (s) =>
      s.phase === 'Tracing' &&
      s.nodes?.[0].lastFlush !== lastFlushBefore &&
      (s.nodes?.[0].containers.length ?? 0) > 0,
    60_000,
  );
  await run('busy', ['rmdir', '/tmp/before-kill']);
  const s = await until(
    'rmdir recorded',
    () => status('sc-kill'),
    (v) => syscalls(v).includes(RMDIR),
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
  // Exits when told to; kubelet then starts it again (restartPolicy Always) with a fresh /tmp.
  const flaky = await sleeper('flaky', ['sh', '-c', 'while [ ! -e /tmp/exit ]; do sleep 0.2; done']);
  const firstID = `containerd://${containerIdOf(flaky)}`;
  await session('sc-restart', { podName: 'flaky' });
  await until(
    'tracing',
    () => status('sc-restart'),
    (s) => s.phase === 'Tracing',
  );
  await run('flaky', ['true']);
  await until(
    'first instance',
    () => status('sc-restart'),
    (s) => containers(s).length === 1,
  );
  await run('flaky', ['touch', '/tmp/exit']);
  const again = await until(
    'the container restarted by kubelet',
    () => getPod(NS, 'flaky'),
    (p) => {
      const c = p.status.containerStatuses?.[0];
      return !!c && c.restartCount >= 1 && c.ready && !!c.containerID && c.containerID !== firstID;
    },
    60_000,
  );
  const secondID = `containerd://${containerIdOf(again)}`;
  await run('flaky', ['mkdir', '/tmp/after-restart']);
  const both = await until(
    'second instance',
    () => status('sc-restart'),
    (s) => containers(s).some((c) => c.containerID === secondID && c.syscalls.includes(MKDIR)),
  );
  expect(containers(both).find((c) => c.containerID === secondID)?.recordedFromStart).toBe(true);
  expect(containers(both).map((c) => c.containerID)).toContain(firstID);
  await deleteObjects(NS, ['pod/flaky']);
  // The agent writes only what changed, so no flush marks time passing: watch the records instead,
  // for three print-and-flush intervals after the deletion; any moment they were not both there fails.
  const kept = await eventually(
    () => status('sc-restart'),
    (s) => containers(s).length !== 2,
    { withinMs: 10_000, everyMs: 500 },
  );
  expect(
    containers(kept)
      .map((c) => c.containerID)
      .sort(),
  ).toEqual([firstID, secondID].sort());
});
