// The agent under faults, as a user meets them: the agent is the DaemonSet pod `deploy` installs
// (from HARDEN_AGENT_IMAGE), workloads are real pods from real images run by kubelet + containerd,
// and every check goes through kubectl or `kubectl harden`. Sizes are env-overridable so a smaller
// run can come first: HARDEN_ROBUST_CHURN_PODS (300), HARDEN_ROBUST_SHORT_PODS (200),
// HARDEN_ROBUST_HANG_SECONDS (90), HARDEN_ROBUST_IDLE_SECONDS (30).
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { harden, testenvEnv } from '../support/cluster';
import { eventually } from '../support/eventually';
import { kubectl, kubectlJson, runRaw } from '../support/exec';
import { deleteNamespace, ensureNamespace, testImage } from '../support/kube-pods';

const NS = 'e2e-robust';
const CURL = process.env.HARDEN_IMAGE_CURL ?? '127.0.0.1:5000/curl:latest';
const size = (name: string, dflt: number) => Number(process.env[name] ?? dflt);
const CHURN = size('HARDEN_ROBUST_CHURN_PODS', 300);
const SHORT = size('HARDEN_ROBUST_SHORT_PODS', 200);
const HANG_S = size('HARDEN_ROBUST_HANG_SECONDS', 90);
const IDLE_S = size('HARDEN_ROBUST_IDLE_SECONDS', 30);
/** Pods of the warm-up churn before the memory baseline. */
const WARM = 30;
/** The agent's flush interval as `deploy` sets it (--flush-interval 3). */
const FLUSH_S = 3;
/** mknodat, which coreutils' mkfifo makes and nothing else in these pods does. */
const MKNODAT: Record<string, number> = { amd64: 259, arm64: 33 };
/** What coreutils' mkdir and rmdir call: arm64 has only the *at forms. */
const MKDIR: Record<string, string> = { amd64: 'mkdir', arm64: 'mkdirat' };
const RMDIR: Record<string, string> = { amd64: 'rmdir', arm64: 'unlinkat' };

const namesOf = (profile: string): string[] =>
  (JSON.parse(profile) as { syscalls: { names: string[] }[] }).syscalls[0].names;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const report = (line: string) => process.stdout.write(`${line}\n`);

/** Polls the cluster until `ok` holds; fails naming what was awaited and what was last seen. */
const until = <T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, withinMs = 60_000) =>
  eventually(probe, ok, { what, withinMs, everyMs: 500 });

async function ok(args: string[], timeoutMs?: number): Promise<string> {
  const r = await harden(args, { timeoutMs });
  if (r.code !== 0) throw new Error(`kubectl harden ${args.join(' ')} -> ${r.code}\n${r.stderr}`);
  return r.stdout;
}

// --- the cluster's objects ---------------------------------------------------------------------

interface Gap {
  from: string;
  to: string;
  reason: string;
}
interface Container {
  pod: string;
  container: string;
  syscalls: number[];
  recordedFromStart: boolean;
  gaps?: Gap[];
}
interface SessionObject {
  metadata: { resourceVersion: string };
  status?: {
    phase?: string;
    nodes?: { node: string; arch: string; final: boolean; containers: Container[]; gaps?: Gap[] }[];
  };
}

const sessionObject = (id: string) => kubectlJson<SessionObject>(['get', 'tracesession', id, '-n', NS]);
const containersOf = (s: SessionObject) => s.status?.nodes?.flatMap((n) => n.containers) ?? [];

let nodeName = '';

function podManifest(name: string, labels: Record<string, string>, script: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels },
    spec: {
      nodeName,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      containers: [
        { name: 'main', image: CURL, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script] },
      ],
    },
  };
}

async function createPods(pods: object[]): Promise<void> {
  await kubectl(['create', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }),
  });
}

/**
 * Pods in batches, each batch created at once, waited for until every pod has run to its end, then
 * deleted: the life of Job pods, as fast as the node runs them.
 */
async function runBatches(
  total: number,
  batch: number,
  make: (i: number) => ReturnType<typeof podManifest>,
  batchLabel: string,
): Promise<void> {
  for (let start = 0; start < total; start += batch) {
    const items = [];
    for (let i = start; i < Math.min(total, start + batch); i++) {
      const p = make(i);
      items.push({
        ...p,
        metadata: { ...p.metadata, labels: { ...p.metadata.labels, [batchLabel]: String(start) } },
      });
    }
    await createPods(items);
    await kubectl(
      [
        'wait',
        '-n',
        NS,
        '--for=jsonpath={.status.phase}=Succeeded',
        'pod',
        '-l',
        `${batchLabel}=${start}`,
        '--timeout=180s',
      ],
      { timeoutMs: 200_000 },
    );
    await kubectl(['delete', 'pod', '-n', NS, '-l', `${batchLabel}=${start}`, '--wait=false']);
  }
}

// --- the agent's process on the host (hostPID) ---------------------------------------------------

async function agentPod(): Promise<{ name: string; uid: string }> {
  const list = await kubectlJson<{
    items: { metadata: { name: string; uid: string }; spec: { nodeName?: string } }[];
  }>(['get', 'pods', '-n', 'harden-system', '-l', 'app.kubernetes.io/name=harden-agent']);
  const pod = list.items.find((p) => p.spec.nodeName === nodeName);
  if (!pod) throw new Error(`no agent pod on node ${nodeName}`);
  return pod.metadata;
}

const read = (f: string) => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
};

/** The agent's node process: its command line names the bundle, its cgroup the agent pod's UID. */
async function agentPid(): Promise<number> {
  const { uid } = await agentPod();
  const forms = [uid, uid.replace(/-/g, '_')];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    if (!read(`/proc/${d}/cmdline`).includes('harden-agent')) continue;
    if (read(`/proc/${d}/comm`).trim() !== 'node') continue;
    const cg = read(`/proc/${d}/cgroup`);
    if (forms.some((f) => cg.includes(f))) return Number(d);
  }
  throw new Error(`no node process of the agent pod (uid ${uid}) on this host`);
}

/** VmRSS (all resident memory) or one part of it, e.g. RssAnon (heap, not the binary's pages). */
const rssKiB = (pid: number, field = 'VmRSS') =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(read(`/proc/${pid}/status`))?.[1] ?? NaN);

/** The agent's bpftrace children (setpriv execs bpftrace, so they are direct children). */
function bpftraces(pid: number): number[] {
  const tasks = existsSync(`/proc/${pid}/task`) ? readdirSync(`/proc/${pid}/task`) : [];
  return tasks
    .flatMap((t) => read(`/proc/${pid}/task/${t}/children`).trim().split(/\s+/).filter(Boolean))
    .map(Number)
    .filter((c) => read(`/proc/${c}/comm`).trim() === 'bpftrace');
}

/** Samples the agent's RSS and its bpftrace count until stopped. */
function sampler(pid: number) {
  let maxRss = 0;
  let maxPrograms = 0;
  const timer = setInterval(() => {
    maxRss = Math.max(maxRss, rssKiB(pid) || 0);
    maxPrograms = Math.max(maxPrograms, bpftraces(pid).length);
  }, 250);
  return {
    stop: () => {
      clearInterval(timer);
      return { maxRss, maxPrograms };
    },
  };
}

async function agentLogs(): Promise<string> {
  const { name } = await agentPod();
  return kubectl(['logs', '-n', 'harden-system', name, '--tail=2000']);
}

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

// -------------------------------------------------------------------------------------------------

beforeAll(async () => {
  nodeName = (await kubectl(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
  await ensureNamespace(NS);
  await ok(['deploy', '--image', testImage('agent'), '--timeout', '180s'], 240_000);
}, 300_000);

afterAll(async () => {
  await deleteNamespace(NS);
  await harden(['undeploy', '--force']);
}, 300_000);

test(`${CHURN} pods of churn under an -l session: agent memory is flat afterwards, at most two programs, small seeds after`, async () => {
  const pid = await agentPid();
  // Warm-up: a small churn of the same shape, so the code every churn runs (and the node binary's
  // pages it touches) is loaded before the baseline; what the big churn adds on top is what it keeps.
  const warm = (await ok(['seccomp', 'start', '-n', NS, '-l', 'app=warm'])).trim();
  await runBatches(
    WARM,
    10,
    (i) => podManifest(`warm-${i}`, { app: i % 3 === 2 ? 'other' : 'warm' }, 'mkfifo /tmp/f; sleep 1'),
    'warm-batch',
  );
  const warmDir = mkdtempSync(join(tmpdir(), 'harden-robust-warm-'));
  await ok(['seccomp', 'stop', warm, '-n', NS, '--output-dir', warmDir], 180_000);
  await sleep(15_000); // as after the churn below
  const before = rssKiB(pid);
  const anonBefore = rssKiB(pid, 'RssAnon');

  const id = (await ok(['seccomp', 'start', '-n', NS, '-l', 'app=churn'])).trim();
  const s = sampler(pid);
  // Two in three pods match the session; the others are churn it must ignore.
  await runBatches(
    CHURN,
    10,
    (i) => podManifest(`churn-${i}`, { app: i % 3 === 2 ? 'other' : 'churn' }, 'mkfifo /tmp/f; sleep 1'),
    'churn-batch',
  );
  const during = s.stop();
  const dir = mkdtempSync(join(tmpdir(), 'harden-robust-churn-'));
  await ok(['seccomp', 'stop', id, '-n', NS, '--output-dir', dir], 180_000);
  await sleep(15_000); // two print intervals, a flush, and the forgetting of what is gone
  const after = rssKiB(pid);
  report(
    `agent RSS: before ${mib(before)}, peak during churn ${mib(during.maxRss)}, after ${mib(after)} ` +
      `(anonymous: ${mib(anonBefore)} -> ${mib(rssKiB(pid, 'RssAnon'))}) ` +
      `(${(((after - before) / before) * 100).toFixed(1)} %); most bpftrace at once: ${during.maxPrograms}`,
  );
  expect(during.maxPrograms).toBeLessThanOrEqual(2);
  expect(after).toBeLessThanOrEqual(before * 1.1);
  // What the agent remembers once nothing is traced: no cgroup, no deleted pod.
  const forgot = [...(await agentLogs()).matchAll(/forgot .*; now (\{.*\})/g)];
  const memory = JSON.parse(forgot[forgot.length - 1]?.[1] ?? '{}') as Record<string, number>;
  report(`agent memory after the churn session: ${JSON.stringify(memory)}`);
  expect(memory).toMatchObject({ cgroups: 0, gonePods: 0 });

  // A new session's program carries only its own target's cgroup, not the churn's.
  await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(podManifest('after', { app: 'after' }, 'sleep infinity')),
  });
  await kubectl(['wait', '-n', NS, '--for=condition=Ready', 'pod/after', '--timeout=120s']);
  const next = (await ok(['seccomp', 'start', '-n', NS, '-p', 'after'])).trim();
  const attached = [...(await agentLogs()).matchAll(/program \d+ attached \(pid \d+\): (\d+) cgroups/g)];
  const seeds = Number(attached[attached.length - 1]?.[1]);
  report(`seeds of the first program after the churn: ${seeds}`);
  expect(seeds).toBeLessThanOrEqual(2);
  await kubectl(['exec', '-n', NS, 'after', '--', 'mkdir', '/tmp/after']);
  await sleep(2 * FLUSH_S * 1000);
  await ok(['seccomp', 'stop', next, '-n', NS]);
  await kubectl(['delete', 'pod', 'after', '-n', NS, '--wait=false']);
}, 3_600_000);

test(`${SHORT} pods that each live about 0.5 s: every one is in its profile`, async () => {
  const id = (await ok(['seccomp', 'start', '-n', NS, '-l', 'app=short'])).trim();
  await runBatches(
    SHORT,
    20,
    (i) => podManifest(`short-${i}`, { app: 'short' }, 'mkfifo /tmp/f; sleep 0.5'),
    'short-batch',
  );
  await until(
    'the short-lived pods gone',
    () => kubectl(['get', 'pods', '-n', NS, '-l', 'app=short', '-o', 'name']),
    (out) => out.trim() === '',
    120_000,
  );
  // The last pods' sets arrive within a print interval, and are written within a flush interval.
  const expected = Array.from({ length: SHORT }, (_, i) => `short-${i}`);
  const unrecorded = (s: SessionObject) => {
    const nr = MKNODAT[s.status?.nodes?.[0]?.arch ?? 'amd64'];
    return expected.filter((name) => !containersOf(s).some((c) => c.pod === name && c.syscalls.includes(nr)));
  };
  const session = await until(
    'every pod recorded',
    () => sessionObject(id),
    (s) => !unrecorded(s).length,
    30_000,
  ).catch(() => sessionObject(id));
  const missing = unrecorded(session);
  report(`short-lived pods recorded with their mkfifo: ${SHORT - missing.length} of ${SHORT}`);
  expect(missing).toEqual([]);
  // Bare pods are their own workloads: one profile each, each naming the call.
  const dir = mkdtempSync(join(tmpdir(), 'harden-robust-short-'));
  const files = (await ok(['seccomp', 'stop', id, '-n', NS, '--output-dir', dir], 180_000))
    .trim()
    .split('\n');
  expect(files).toHaveLength(SHORT);
  for (const f of files) expect(namesOf(readFileSync(f, 'utf8'))).toContain('mknodat');
}, 3_600_000);

test('bpftrace killed mid-session: the gap is reported with its span, and stop says so', async () => {
  await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(podManifest('victim', { app: 'victim' }, 'sleep infinity')),
  });
  await kubectl(['wait', '-n', NS, '--for=condition=Ready', 'pod/victim', '--timeout=120s']);
  const id = (await ok(['seccomp', 'start', '-n', NS, '-p', 'victim'])).trim();
  await kubectl(['exec', '-n', NS, 'victim', '--', 'mkdir', '/tmp/before']);
  await sleep(2 * FLUSH_S * 1000);
  const pid = await agentPid();
  const victims = bpftraces(pid);
  expect(victims.length).toBeGreaterThan(0);
  const killedAt = Date.now();
  for (const b of victims) process.kill(b, 'SIGKILL');
  const withGap = await until(
    'the gap in the status',
    () => sessionObject(id),
    (s) => containersOf(s).some((c) => (c.gaps ?? []).length > 0),
  );
  const gap = containersOf(withGap).find((c) => c.gaps?.length)!.gaps![0];
  report(`gap after kill -9 of bpftrace: ${gap.from} -> ${gap.to} (${gap.reason})`);
  expect(gap.reason).toBe('BpftraceExited');
  // The same host's clock: the span holds the kill (1 s for the timestamps' resolution).
  expect(Date.parse(gap.from)).toBeLessThanOrEqual(killedAt + 1000);
  expect(Date.parse(gap.to)).toBeGreaterThanOrEqual(killedAt - 1000);
  await sleep(2 * FLUSH_S * 1000);
  await kubectl(['exec', '-n', NS, 'victim', '--', 'rmdir', '/tmp/before']);

  const arch = withGap.status?.nodes?.[0]?.arch ?? 'amd64';
  const refused = await harden(['seccomp', 'stop', id, '-n', NS]);
  expect(refused.code).not.toBe(0);
  expect(refused.stdout).toBe('');
  expect(refused.stderr).toContain(`victim/main was not traced from ${gap.from} to ${gap.to}`);
  expect(refused.stderr).toContain('--accept-gaps');
  const taken = await harden(['seccomp', 'stop', id, '-n', NS, '--accept-gaps']);
  expect(taken.code).toBe(0);
  expect(taken.stderr).toContain('victim/main was not traced');
  // What was made before the gap and after it is in the profile.
  const names = namesOf(taken.stdout);
  expect(names).toContain(MKDIR[arch]);
  expect(names).toContain(RMDIR[arch]);
  await kubectl(['delete', 'pod', 'victim', '-n', NS, '--wait=false']);
}, 600_000);

test(`the API server hangs for ${HANG_S} s: nothing is lost, and no gap is claimed`, async () => {
  // The workload acts on its own during the hang (kubectl exec needs the API server).
  const during = Math.round(HANG_S / 3);
  await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(
      podManifest('patient', { app: 'patient' }, `sleep ${during + 15}; mkfifo /tmp/during; sleep infinity`),
    ),
  });
  await kubectl(['wait', '-n', NS, '--for=condition=Ready', 'pod/patient', '--timeout=120s']);
  const id = (await ok(['seccomp', 'start', '-n', NS, '-p', 'patient'])).trim();
  await kubectl(['exec', '-n', NS, 'patient', '--', 'mkdir', '/tmp/before']);
  await sleep(2 * FLUSH_S * 1000);
  const apiserver = Number(read(join(testenvEnv().state, 'pids', 'kube-apiserver.pid')).trim());
  expect(apiserver).toBeGreaterThan(0);
  process.kill(apiserver, 'SIGSTOP');
  try {
    await sleep(HANG_S * 1000);
  } finally {
    process.kill(apiserver, 'SIGCONT');
  }
  await until(
    'the API server back',
    () => runRaw('kubectl', ['get', '--raw', '/readyz'], { env: testenvEnv().processEnv }),
    (r) => r.code === 0,
    120_000,
  );
  await kubectl(['exec', '-n', NS, 'patient', '--', 'rmdir', '/tmp/before']);
  const arch = (await sessionObject(id)).status?.nodes?.[0]?.arch ?? 'amd64';
  const r = await harden(['seccomp', 'stop', id, '-n', NS], { timeoutMs: 180_000 });
  expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
  expect(r.stderr).not.toContain('was not traced');
  expect(namesOf(r.stdout)).toEqual(expect.arrayContaining([MKDIR[arch], 'mknodat', RMDIR[arch]]));
  const logs = await agentLogs();
  report(
    `agent on the hang: ${logs
      .split('\n')
      .filter((l) => /watch|reconnect/.test(l))
      .slice(-4)
      .join(' | ')}`,
  );
  // The watches ask the server to end them after 60 s; 15 s more of silence means a dead connection.
  if (HANG_S > 75) expect(logs).toMatch(/no word from the API server/);
  await kubectl(['delete', 'pod', 'patient', '-n', NS, '--wait=false']);
}, 900_000);

test(`an idle session is written at most once per flush interval (watched for ${IDLE_S} s)`, async () => {
  await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(podManifest('idle', { app: 'idle' }, 'sleep infinity')),
  });
  await kubectl(['wait', '-n', NS, '--for=condition=Ready', 'pod/idle', '--timeout=120s']);
  const id = (await ok(['seccomp', 'start', '-n', NS, '-p', 'idle'])).trim();
  await kubectl(['exec', '-n', NS, 'idle', '--', 'mkdir', '/tmp/idle']);
  await sleep(3 * FLUSH_S * 1000); // the first sets and the Tracing phase are written
  // Every status write is a MODIFIED event on the session's watch.
  const watch = await runRaw(
    'timeout',
    [
      String(IDLE_S),
      'kubectl',
      'get',
      'tracesession',
      id,
      '-n',
      NS,
      '--watch-only',
      '--output-watch-events',
      '-o',
      'json',
    ],
    { env: testenvEnv().processEnv, timeoutMs: (IDLE_S + 30) * 1000 },
  );
  expect(watch.code).toBe(124); // ended by `timeout`, not by an error
  const writes = (watch.stdout.match(/"type":\s*"MODIFIED"/g) ?? []).length;
  report(`status writes of an idle session in ${IDLE_S} s: ${writes} (flush interval ${FLUSH_S} s)`);
  expect(writes).toBeLessThanOrEqual(Math.floor(IDLE_S / FLUSH_S));
  expect(writes).toBeLessThanOrEqual(1);
  await ok(['seccomp', 'stop', id, '-n', NS]);
  await kubectl(['delete', 'pod', 'idle', '-n', NS, '--wait=false']);
}, 300_000);
