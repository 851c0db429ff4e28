// A workload's whole life on the real node (issue 20, point 5), before and after
// `--include-shutdown`: what was recorded, then enforced by kubelet, and how long the confined or
// patched pod takes to roll out, serve and stop. Figures go to stderr ("life:" lines) for the
// closing note; only "within 3 s" and "within the grace period" are asserted, as the issue asks.
//
// - a master that kill()s its workers on its stop signal (a shell supervisor over Debian's nginx and
//   a helper, as a proxy or database supervisor does; nginx itself tells its own workers to quit
//   over its channel socket, not with kill(), and needs no kill: measured on the node). A profile
//   recorded without a shutdown lacks kill, and the confined pod waits out its grace period;
//   recorded with --include-shutdown it stops at once.
// - the same nginx started by a script that writes 300 files into an emptyDir and one pid file on
//   the root filesystem: the volume list hits its bound (stop refuses without --accept-truncated),
//   the root filesystem list does not, and the patched pod runs, serves and stops in its grace period.
// - faults: a pod deleted with --grace-period=0 whose shutdown outlasts kubelet's minimal window,
//   a container that exits by itself, an exec readiness probe that fails.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { harden } from '../support/cluster';
import { kubectl, kubectlJson } from '../support/exec';
import {
  apply,
  deleteNamespace,
  ensureNamespace,
  execInKubePod,
  podSpec,
  runDeployment,
  runKubePod,
  testImage,
  waitPodsReady,
  type KubePod,
  type PodOptions,
} from '../support/kube-pods';
import { eventually } from '../support/eventually';

const NS = 'e2e-life';
const GRACE_S = 10;
const dir = mkdtempSync(join(tmpdir(), 'harden-life-'));
let client: KubePod;

const say = (line: string) => process.stderr.write(`life: ${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

async function ok(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await harden(args);
  if (r.code !== 0) throw new Error(`kubectl harden ${args.join(' ')} -> ${r.code}\n${r.stderr}`);
  return r;
}

/**
 * A master that runs its workers (nginx serving, a helper) and on its stop signal (the image's
 * SIGQUIT, or SIGTERM) kill()s them and waits for them: the shutdown path issue 20 found in a proxy.
 */
const SUPERVISOR: Omit<PodOptions, 'namespace'> = {
  name: 'supervisor',
  image: testImage('nginx'),
  grace: GRACE_S,
  command: [
    'sh',
    '-c',
    'nginx -g "daemon off;" & n=$!; sleep 86400 & s=$!; ' +
      'trap "kill -QUIT $n; kill -TERM $s; wait; exit 0" TERM QUIT; wait',
  ],
};

/** The same nginx after a first start that fills its data volume and writes one pid file on the root filesystem. */
const FILLER: Omit<PodOptions, 'namespace'> = {
  name: 'filler',
  image: testImage('nginx'),
  grace: GRACE_S,
  emptyDirs: ['/data'],
  command: [
    'sh',
    '-c',
    'for i in $(seq 1 300); do echo $i > /data/f$i; done; echo $$ > /var/run/filler.pid; exec nginx -g "daemon off;"',
  ],
};

const scale = async (name: string, replicas: number) => {
  await kubectl(['-n', NS, 'scale', `deployment/${name}`, `--replicas=${replicas}`]);
  await kubectl(['-n', NS, 'rollout', 'status', `deployment/${name}`, '--timeout=120s'], {
    timeoutMs: 130_000,
  });
  await eventually(
    () => kubectlJson<{ items: unknown[] }>(['-n', NS, 'get', 'pods', '-l', `app=${name}`]),
    (l) => l.items.length === replicas,
    { withinMs: 60_000, what: `${name} at ${replicas} pods` },
  );
  return replicas ? waitPodsReady(NS, `app=${name}`, { count: replicas }) : [];
};

/** One request from the client: its HTTP status and curl's own time for it. */
async function serve(ip: string): Promise<{ status: string; ms: number }> {
  const r = await execInKubePod(NS, client.metadata.name, [
    'curl',
    '-sS',
    '-o',
    '/dev/null',
    '-m',
    '5',
    '-w',
    '%{http_code} %{time_total}',
    `http://${ip}/`,
  ]);
  const [status, t] = r.stdout.trim().split(' ');
  return { status: r.code === 0 ? status : `exit ${r.code} ${r.stderr}`, ms: Number(t) * 1000 };
}

/** Serves, retrying while it may not listen yet. */
async function serves(ip: string): Promise<number> {
  const r = await eventually(
    () => serve(ip),
    (x) => x.status === '200',
    { withinMs: 20_000, what: `http://${ip}/ serving` },
  );
  return r.ms;
}

/**
 * Traces the workload from its first pod's start (a session on its label, then 0 → 1 replica),
 * exercises it, and stops with `stopFlags`; returns what stop printed. The Deployment is left at 1.
 */
async function record(
  group: 'seccomp' | 'sc',
  name: string,
  stopFlags: string[],
): Promise<{ id: string; code: number; stdout: string; stderr: string }> {
  await scale(name, 0);
  const id = (await ok([group, 'start', '-n', NS, '-l', `app=${name}`])).stdout.trim();
  const [pod] = await scale(name, 1);
  for (let i = 0; i < 5; i++) await serves(pod.status.podIP ?? '');
  const r = await harden([group, 'stop', id, '-n', NS, ...stopFlags]);
  say(`${name} ${group} stop ${stopFlags.join(' ')} -> ${r.code}\n${r.stderr}`);
  return { id, ...r };
}

/**
 * After `change` (a profile applied, a patch), the rollout: its time, one request's time, and how
 * long `kubectl delete pod` takes for the new pod (its stop).
 */
async function enforced(name: string, change: () => Promise<unknown>) {
  const t0 = Date.now();
  await change();
  await kubectl(['-n', NS, 'rollout', 'status', `deployment/${name}`, '--timeout=120s'], {
    timeoutMs: 130_000,
  });
  const [pod] = await waitPodsReady(NS, `app=${name}`);
  const rolloutMs = Date.now() - t0;
  const serveMs = await serves(pod.status.podIP ?? '');
  const { stopMs, goneMs } = await stopTimes(pod.metadata.name);
  await waitPodsReady(NS, `app=${name}`);
  return { rolloutMs, serveMs, stopMs, goneMs };
}

/**
 * `kubectl delete pod`, then: when kubelet reports its container terminated (the workload's own
 * stop, as late as kubelet's status and this poll see it), and when the pod is gone (that plus
 * kubelet's teardown of the sandbox and network, ~2.5 s on this loaded node even for a pod whose
 * processes exit at once).
 */
async function stopTimes(pod: string): Promise<{ stopMs: number; goneMs: number }> {
  const t0 = Date.now();
  await kubectl(['-n', NS, 'delete', 'pod', pod, '--wait=false']);
  let stopMs: number | undefined;
  for (;;) {
    const text = await kubectl(['-n', NS, 'get', 'pod', pod, '-o', 'json', '--ignore-not-found']);
    const elapsed = Date.now() - t0;
    if (!text.trim()) return { stopMs: stopMs ?? elapsed, goneMs: elapsed };
    const p = JSON.parse(text) as KubePod;
    if (
      stopMs === undefined &&
      p.status.containerStatuses?.some((c) => c.name === 'main' && c.state?.terminated)
    )
      stopMs = elapsed;
    if (elapsed > 120_000) throw new Error(`pod ${pod} not gone 120 s after its deletion`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const names = (profile: string): string[] =>
  (JSON.parse(profile) as { syscalls: { names: string[] }[] }).syscalls.flatMap((s) => s.names);

beforeAll(async () => {
  await ensureNamespace(NS);
  await ok(['deploy', '--image', testImage('agent'), '--timeout', '120s']);
  client = await runKubePod({ namespace: NS, name: 'client', image: testImage('curl') });
  for (const w of [SUPERVISOR, FILLER]) await runDeployment({ ...w, namespace: NS, port: 80, replicas: 0 });
}, 600_000);

afterAll(async () => {
  await deleteNamespace(NS).catch(() => undefined);
});

describe('a whole life, recorded and enforced', () => {
  test('a master that kill()s its workers on its stop signal: confined by a profile with its shutdown, it stops within 3 s', async () => {
    const before = await record('seccomp', SUPERVISOR.name, []);
    expect(before.code).toBe(0);
    expect(before.stderr).toMatch(
      /shutdown \(stop signal to exit\) not observed: no instance stopped while traced/,
    );
    const after = await record('seccomp', SUPERVISOR.name, ['--include-shutdown']);
    expect(after.code).toBe(0);
    expect(after.stderr).toMatch(
      /deployment\/supervisor: pod supervisor-\S+ stopped in \d+\.\ds \(grace period 10s\)/,
    );
    expect(after.stderr).toMatch(/deployment\/supervisor: replacement supervisor-\S+ is Ready and traced/);
    expect(after.stderr).not.toMatch(/not observed/);
    const [b, a] = [names(before.stdout), names(after.stdout)];
    say(`supervisor profile before: ${b.length} syscalls, kill: ${b.includes('kill')}`);
    say(
      `supervisor profile after: ${a.length} syscalls, kill: ${a.includes('kill')}; added: ${a.filter((n) => !b.includes(n)).join(' ')}`,
    );
    expect(b).not.toContain('kill');
    expect(a).toContain('kill');

    const figures: Record<string, Awaited<ReturnType<typeof enforced>>> = {};
    for (const [which, text] of [
      ['before', before.stdout],
      ['after', after.stdout],
    ] as const) {
      const file = join(dir, `${which}.json`);
      writeFileSync(file, text);
      await ok(['seccomp', 'install', file, '--name', `supervisor-${which}`, '-n', NS]);
      figures[which] = await enforced(SUPERVISOR.name, () =>
        ok(['seccomp', 'apply', 'deployment/supervisor', '--profile', `supervisor-${which}`, '-n', NS]),
      );
      const f = figures[which];
      say(
        `supervisor confined ${which}: rollout ${secs(f.rolloutMs)}, serve ${f.serveMs.toFixed(1)}ms, stop ${secs(f.stopMs)}, pod gone ${secs(f.goneMs)} (grace ${GRACE_S}s)`,
      );
    }
    // Without kill its master cannot signal the workers: the pod waits out its grace period.
    expect(figures.before.stopMs).toBeGreaterThan(3000);
    expect(figures.after.stopMs).toBeLessThan(3000);
  }, 600_000);

  test('hundreds of files on a volume and one on the root filesystem: the cut list is refused, the advice keeps it running, patched it stops in its grace period', async () => {
    const before = await record('sc', FILLER.name, ['--accept-truncated', '--keep']);
    expect(before.code).toBe(0);
    // The patch names the owner, read from a pod the session recorded: while it still runs.
    const patchBefore = (await ok(['sc', 'show', before.id, '-n', NS, '-o', 'patch'])).stdout;
    await kubectl(['-n', NS, 'delete', 'tracesession', before.id]);
    // Record with the shutdown: stop refuses the cut volume list and keeps the session…
    const refused = await record('sc', FILLER.name, ['--include-shutdown']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /filler\/main: the agent's list of (.*, of )?writes off the root filesystem(, of .*)? hit its bound/,
    );
    expect(refused.stderr).toMatch(/deployment\/filler: replacement filler-\S+ is Ready and traced/);
    // …and takes it with --accept-truncated (the shutdown is already in the records).
    const taken = await harden(['sc', 'stop', refused.id, '-n', NS, '--accept-truncated', '--keep']);
    say(`filler sc stop --accept-truncated -> ${taken.code}\n${taken.stderr}`);
    expect(taken.code).toBe(0);
    expect(taken.stderr).not.toMatch(/shutdown \(stop signal to exit\) not observed/);
    const patchAfter = (await ok(['sc', 'show', refused.id, '-n', NS, '-o', 'patch'])).stdout;
    await kubectl(['-n', NS, 'delete', 'tracesession', refused.id]);

    type Advice = {
      containers: {
        securityContext: { readOnlyRootFilesystem?: boolean; capabilities?: { add?: string[] } };
        emptyDirs: string[];
      }[];
    };
    for (const [which, text] of [
      ['before', before.stdout],
      ['after', taken.stdout],
    ] as const) {
      const [c] = (load(text) as Advice).containers;
      say(
        `filler advice ${which}: readOnlyRootFilesystem ${String(c.securityContext.readOnlyRootFilesystem)}, emptyDirs ${c.emptyDirs.join(' ') || '-'}, add ${(c.securityContext.capabilities?.add ?? []).join(' ') || '-'}`,
      );
      // The pid file keeps it running: an emptyDir over its directory, or no read-only root.
      if (c.securityContext.readOnlyRootFilesystem)
        expect(c.emptyDirs.some((d) => ['/var/run', '/run', '/var', '/'].includes(d))).toBe(true);
    }
    // nginx tells its workers to quit over its channel socket: its shutdown needs no CAP_KILL.

    const figures: Record<string, Awaited<ReturnType<typeof enforced>>> = {};
    for (const [which, patch] of [
      ['before', patchBefore],
      ['after', patchAfter],
    ] as const) {
      figures[which] = await enforced(FILLER.name, () =>
        kubectl(['-n', NS, 'patch', 'deployment/filler', '--type', 'strategic', '-p', patch]),
      );
      const f = figures[which];
      say(
        `filler patched ${which}: rollout ${secs(f.rolloutMs)}, serve ${f.serveMs.toFixed(1)}ms, stop ${secs(f.stopMs)}, pod gone ${secs(f.goneMs)} (grace ${GRACE_S}s)`,
      );
    }
    expect(figures.after.goneMs).toBeLessThan(GRACE_S * 1000);
  }, 600_000);
});

describe('faults', () => {
  test('a pod deleted with --grace-period=0 and a container that exits by itself: stop says no shutdown was recorded, and why', async () => {
    const id = (await ok(['seccomp', 'start', '-n', NS, '-l', 'fault'])).stdout.trim();
    // kubelet gives even a --grace-period=0 deletion a second or two after the stop signal
    // (pod_workers: "we always supply a grace period of 1"); a shutdown that takes longer is SIGKILLed.
    const slow = {
      namespace: NS,
      name: 'slow-stop',
      image: testImage('nginx'),
      labels: { fault: 'force-deleted' },
      grace: 30,
      // The image's STOPSIGNAL is SIGQUIT; PID 1 ignores what it does not handle.
      command: ['sh', '-c', 'trap "sleep 8; exit 0" TERM QUIT; while :; do sleep 1; done'],
    };
    await runKubePod(slow);
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'quits', namespace: NS, labels: { fault: 'exits' } },
        spec: podSpec({
          namespace: NS,
          name: 'quits',
          image: testImage('nginx'),
          restartPolicy: 'Never',
          command: ['sh', '-c', 'sleep 3; exit 0'],
        }),
      },
    ]);
    await eventually(
      () => kubectlJson<{ status: { phase?: string } }>(['-n', NS, 'get', 'pod', 'quits']),
      (p) => p.status.phase === 'Succeeded',
      { withinMs: 60_000, what: 'pod quits exited' },
    );
    const t0 = Date.now();
    await kubectl(['-n', NS, 'delete', 'pod', 'slow-stop', '--grace-period=0', '--force']);
    await eventually(
      () => kubectl(['-n', NS, 'get', 'pods', '-l', 'fault', '-o', 'name']),
      (out) => !out.includes('slow-stop'),
      { withinMs: 60_000, what: 'slow-stop gone' },
    );
    say(`slow-stop deleted with --grace-period=0: gone after ${secs(Date.now() - t0)}`);
    // Its containers' end reaches the agent after the API object is gone: give it two flushes.
    await new Promise((r) => setTimeout(r, 10_000));
    const r = await harden(['seccomp', 'stop', id, '-n', NS, '-o', 'crd']);
    say(`faults seccomp stop -> ${r.code}\n${r.stderr}`);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /slow-stop\/main: shutdown \(stop signal to exit\) not observed: its entrypoint was SIGKILLed \(its grace period ran out, or it was deleted with --grace-period=0\)/,
    );
    expect(r.stderr).toMatch(
      /quits\/main: shutdown \(stop signal to exit\) not observed: its entrypoint exited without a stop signal \(by itself, before stop\)/,
    );
  }, 600_000);

  test("an exec readiness probe that fails: its exec is recorded as exec'd, not as the workload's start-up", async () => {
    const name = 'probe-fails';
    const spec = podSpec({
      namespace: NS,
      name,
      image: testImage('nginxUnprivileged'),
      podSecurityContext: { runAsUser: 1000, runAsGroup: 1000 },
      readyExec: ['cat', '/nonexistent'],
    });
    const id = (await ok(['sc', 'start', '-n', NS, '-l', `app=${name}`])).stdout.trim();
    await apply([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace: NS, labels: { app: name } },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: { metadata: { labels: { app: name } }, spec },
        },
      },
    ]);
    // Running, never Ready: the probe runs (and fails) every second.
    await eventually(
      () => kubectlJson<{ items: KubePod[] }>(['-n', NS, 'get', 'pods', '-l', `app=${name}`]),
      (l) =>
        l.items.some(
          (p) =>
            p.status.phase === 'Running' &&
            !(p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
        ),
      { withinMs: 60_000, what: `${name} running` },
    );
    await new Promise((r) => setTimeout(r, 8_000));
    const r = await harden(['sc', 'stop', id, '-n', NS]);
    say(`probe-fails sc stop -> ${r.code}\n${r.stdout}${r.stderr}`);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(
      /runs a command in the container, but no process exec'd into it was observed/,
    );
    const advice = load(r.stdout) as {
      podSecurityStandard: { level: string };
      containers: {
        securityContext: { runAsUser?: number; capabilities?: { add?: string[] } };
        rootNeeded?: unknown;
      }[];
    };
    const [c] = advice.containers;
    expect(c.rootNeeded).toBeUndefined();
    expect(c.securityContext.runAsUser).toBe(1000);
    expect(c.securityContext.capabilities?.add).toBeUndefined();
    expect(advice.podSecurityStandard.level).toBe('restricted');
  }, 600_000);
});
