// Benchmarks on the local test cluster: every figure is a ratio or rate against its baseline,
// measured interleaved in the same run, reported as median and spread (min–max). No absolute time
// is asserted anywhere; BENCHMARKS.md records what a run printed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkPolicy } from '../../lib/netpol/synthesize';
import {
  agentPod,
  cgroupPids,
  containerCgroupDir,
  deployAgent,
  restoreAgent,
  type Deployed,
} from '../../test/support/agent-pod';
import { harden, REPO_ROOT } from '../../test/support/cluster';
import { kubectl } from '../../test/support/exec';
import {
  apply,
  deleteNamespace,
  ensureNamespace,
  execInKubePod,
  getPod,
  podSpec,
  runDeployment,
  runKubePod,
  testImage,
  type KubePod,
} from '../../test/support/kube-pods';
import { startMonitor } from '../../test/support/monitor';

const NS = 'bench';
const out: string[] = [];
const say = (line: string) => {
  out.push(line);
  process.stdout.write(line + '\n');
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs: number[]) => `${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}`;
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * The environment timed commands run in: this one without what makes every Node start do work a
 * user's machine does not. NODE_EXTRA_CA_CERTS (set on the project's VM) has Node read and parse a
 * certificate bundle as it starts: 45 ms, more than `node -e 0` itself, added to both sides of
 * every start-up ratio.
 */
const NODE_START_VARS = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'];
const timedEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !NODE_START_VARS.includes(k)),
);
/** For the tables' headings: which of those this run's environment had. */
const dropped = NODE_START_VARS.filter((k) => process.env[k] !== undefined);
const unset = dropped.length ? `; ${dropped.join(', ')} unset` : '';

/** One run's wall and CPU (user + sys) milliseconds, from bash's `time` (getrusage: 1 ms resolution). */
function timeCmd(cmd: string, args: string[]): { wall: number; cpu: number } {
  const r = spawnSync(
    'bash',
    ['-c', 'TIMEFORMAT="%3R %3U %3S"; time "$@" >/dev/null 2>&1', 'bash', cmd, ...args],
    { encoding: 'utf8', env: timedEnv },
  );
  const m = /([\d.]+) ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { wall: Number(m[1]) * 1000, cpu: (Number(m[2]) + Number(m[3])) * 1000 };
}

type Cmd = [name: string, cmd: string, args: string[]];

/**
 * Interleaved runs of several commands, a round at a time (each command once per round, so a
 * burst of load elsewhere hits all of them): CPU and wall time, and their ratios to the first
 * command's in the same round.
 */
function interleave(label: string, cmds: Cmd[], runs: number) {
  const times = cmds.map(() => [] as { wall: number; cpu: number }[]);
  for (let r = 0; r < runs; r++) cmds.forEach(([, c, a], i) => times[i].push(timeCmd(c, a)));
  say(
    `\n### ${label} (${runs} interleaved rounds; ratio to ${cmds[0][0]} in the same round, median [min–max]${unset})`,
  );
  say('| command | CPU (user+sys) | ratio (CPU) | wall | ratio (wall) |');
  say('|---|---|---|---|---|');
  const base = times[0];
  cmds.forEach(([name], i) => {
    const col = (k: 'cpu' | 'wall') => {
      const ratios = times[i].map((t, j) => t[k] / base[j][k]);
      return [
        `${median(times[i].map((t) => t[k])).toFixed(0)} ms`,
        `${median(ratios).toFixed(2)} [${spread(ratios)}]`,
      ];
    };
    say(`| ${name} | ${col('cpu').join(' | ')} | ${col('wall').join(' | ')} |`);
  });
}

/** A build of another revision (`scripts/bench/run --before REF`), measured in the same rounds. */
const BEFORE = process.env.HARDEN_BENCH_BEFORE;
const seaOf = (root: string) => join(root, 'dist', 'release', 'linux-amd64', 'kubectl-harden');

function cli() {
  const cmds: Cmd[] = [['node -e 0', process.execPath, ['-e', '0']]];
  const builds: [string, string][] = [['', REPO_ROOT]];
  if (BEFORE) builds.unshift(['before: ', BEFORE]);
  for (const [tag, root] of builds) {
    const bundle = join(root, 'dist', 'kubectl-harden.cjs');
    cmds.push(
      [`${tag}node kubectl-harden.cjs --help`, process.execPath, [bundle, '--help']],
      [`${tag}node kubectl-harden.cjs version --client`, process.execPath, [bundle, 'version', '--client']],
    );
    if (existsSync(seaOf(root)))
      cmds.push(
        [`${tag}SEA --help`, seaOf(root), ['--help']],
        [`${tag}SEA version --client`, seaOf(root), ['version', '--client']],
      );
  }
  const kubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
  if (kubectl.status === 0) cmds.push(['kubectl version --client (Go)', 'kubectl', ['version', '--client']]);
  interleave('CLI start-up (budget: ≤ 1.3× for the bundle, ≤ 1.0× for the SEA)', cmds, 21);
}

/** Wall and CPU seconds and peak RSS (MiB) of one run, from /usr/bin/time. */
function timed(cmd: string, args: string[]): { wall: number; cpu: number; rss: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', cmd, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
    env: timedEnv,
  });
  const m = /([\d.]+) ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(r.stderr);
  if (!m) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), rss: Number(m[4]) / 1024 };
}

function flowLog(dir: string, n: number): string {
  const file = join(dir, `${n}.log`);
  spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'gen-flow-log.mjs'), String(n), file], {
    stdio: 'ignore',
  });
  return file;
}

/** Interleaved rounds of commands over one log; ratios to the first (the naive parse) per round. */
function throughput(label: string, n: number, cmds: Cmd[], runs: number) {
  const t = cmds.map(() => [] as ReturnType<typeof timed>[]);
  for (let r = 0; r < runs; r++) cmds.forEach(([, c, a], i) => t[i].push(timed(c, a)));
  say(
    `\n### ${label} (${runs} interleaved rounds; ratio to ${cmds[0][0]} in the same round, median [min–max]${unset})`,
  );
  say('| command | wall | ratio (wall) | CPU | ratio (CPU) | lines/s | peak RSS |');
  say('|---|---|---|---|---|---|---|');
  cmds.forEach(([name], i) => {
    const med = (k: 'wall' | 'cpu' | 'rss') => median(t[i].map((x) => x[k]));
    const ratio = (k: 'wall' | 'cpu') => {
      const rs = t[i].map((x, j) => x[k] / t[0][j][k]);
      return `${median(rs).toFixed(2)} [${spread(rs)}]`;
    };
    say(
      `| ${name} | ${med('wall').toFixed(2)} s | ${ratio('wall')} | ${med('cpu').toFixed(2)} s | ${ratio('cpu')} | ${(n / med('wall') / 1000).toFixed(0)}k | ${med('rss').toFixed(0)} MiB |`,
    );
  });
}

function reportCmds(log: string, verb: string[]): Cmd[] {
  const cmds: Cmd[] = [
    ['naive parse', process.execPath, [join(REPO_ROOT, 'scripts', 'bench', 'naive-parse.mjs'), log]],
  ];
  if (BEFORE)
    cmds.push([
      `before: ${verb[1]}`,
      process.execPath,
      [join(BEFORE, 'dist', 'kubectl-harden.cjs'), ...verb, '--input', log],
    ]);
  cmds.push([
    verb.join(' '),
    process.execPath,
    [join(REPO_ROOT, 'dist', 'kubectl-harden.cjs'), ...verb, '--input', log],
  ]);
  return cmds;
}

function report() {
  const dir = mkdtempSync(join(tmpdir(), 'harden-bench-'));
  for (const n of [100_000, 1_000_000])
    throughput(
      `netpol report, ${n / 1000}k flow lines (budget at 1 M: ≤ 0.8× the naive parse's wall time)`,
      n,
      reportCmds(flowLog(dir, n), ['netpol', 'report']),
      5,
    );
}

/**
 * 1 M flows against 100 policies: the log's own report (9) plus 91 variants of them, each selecting
 * the same pods under another name, a matchExpression and (every third) an ipBlock rule with a port
 * range, so every pod is isolated by ~11 policies.
 */
function verify() {
  const dir = mkdtempSync(join(tmpdir(), 'harden-bench-'));
  const n = 1_000_000;
  const log = flowLog(dir, n);
  const r = spawnSync(
    process.execPath,
    [join(REPO_ROOT, 'dist', 'kubectl-harden.cjs'), 'netpol', 'report', '--input', log, '-o', 'json'],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  const base = (JSON.parse(r.stdout) as { items: NetworkPolicy[] }).items;
  const policies = [...base];
  for (let i = 0; policies.length < 100; i++) {
    const p = structuredClone(base[i % base.length]);
    p.metadata.name = `${p.metadata.name}-variant-${i}`;
    (p.spec.podSelector as object as Record<string, unknown>).matchExpressions = [
      { key: 'canary', operator: 'DoesNotExist' },
    ];
    if (i % 3 === 0)
      (p.spec.ingress as unknown[]).push({
        from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.244.3.0/24'] } }],
        ports: [{ protocol: 'TCP', port: 30000, endPort: 32767 }],
      });
    policies.push(p);
  }
  const file = join(dir, 'policies.json');
  writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: policies }));
  const cmds = reportCmds(log, ['netpol', 'verify']).map(([name, c, a], i): Cmd => [
    name,
    c,
    i === 0 ? a : [...a, '-f', file],
  ]);
  throughput(`netpol verify, ${n / 1000}k flow lines, ${policies.length} policies`, n, cmds, 3);
}

/**
 * dd bs=1 in a kubelet pod: one-byte read+write pairs. Its own CPU time (user+sys, from bash's time)
 * per syscall: an eBPF program on sys_enter runs in the calling task, so it shows up there, while
 * runc exec and scheduling noise do not.
 */
async function ddRun(pod: KubePod, bytes: number): Promise<number> {
  const r = await execInKubePod(
    NS,
    pod.metadata.name,
    ['bash', '-c', `time dd if=/dev/zero of=/dev/null bs=1 count=${bytes}`],
    { timeoutMs: 600_000 },
  );
  if (r.code !== 0) throw new Error(r.stderr);
  const secs = (name: string) => {
    const m = new RegExp(`${name}\\s+(\\d+)m\\s*([\\d.]+)s`).exec(r.stderr);
    if (!m) throw new Error(`no ${name} time in: ${r.stderr}`);
    return Number(m[1]) * 60 + Number(m[2]);
  };
  return (secs('user') + secs('sys')) / (2 * bytes);
}

function floorProgram(): { stop: () => Promise<void>; ready: Promise<void> } {
  const child = spawn(
    'bpftrace',
    ['-e', 'tracepoint:raw_syscalls:sys_enter { } BEGIN { printf("ready\\n"); }'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const ready = new Promise<void>((resolve) =>
    child.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()),
  );
  return {
    ready,
    stop: () => new Promise((resolve) => (child.once('exit', () => resolve()), child.kill('SIGINT'))),
  };
}

async function overhead(target: KubePod, other: KubePod) {
  const bytes = 2_000_000;
  const rounds = 7;
  const modes = [
    'untraced',
    'floor (empty program)',
    'seccomp session on this pod',
    'session on another pod',
  ] as const;
  const per: Record<string, number[]> = Object.fromEntries(modes.map((m) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    per.untraced.push(await ddRun(target, bytes));
    const floor = floorProgram();
    await floor.ready;
    per['floor (empty program)'].push(await ddRun(target, bytes));
    await floor.stop();
    for (const [mode, pod] of [
      ['seccomp session on this pod', target],
      ['session on another pod', other],
    ] as const) {
      const id = (await harden(['seccomp', 'start', '-n', NS, '-p', pod.metadata.name])).stdout.trim();
      per[mode].push(await ddRun(target, bytes));
      await harden(['seccomp', 'stop', id, '-n', NS]);
    }
  }
  say(`\n### Added cost per syscall (dd bs=1, ${2 * bytes} syscalls per run, ${rounds} interleaved rounds)`);
  const base = per.untraced;
  const added = (m: string) => per[m].map((t, i) => (t - base[i]) * 1e9); // ns
  say(`- untraced: ${(median(base) * 1e9).toFixed(0)} ns CPU per syscall (dd's user+sys)`);
  for (const m of modes.slice(1)) {
    const ratios = per[m].map((t, i) => t / base[i]);
    say(
      `- ${m}: ratio ${median(ratios).toFixed(3)} [${spread(ratios)}], added ${median(added(m)).toFixed(0)} ns per syscall`,
    );
  }
  const floorAdded = median(added('floor (empty program)'));
  say(
    `- traced pod vs floor: ${(median(added('seccomp session on this pod')) / floorAdded).toFixed(2)}× the floor's added cost (budget 1.5×)`,
  );
  say(
    `- other pod vs floor: ${(median(added('session on another pod')) / floorAdded).toFixed(2)}× the floor's added cost (budget 1.1×)`,
  );
}

/** ab (the host's) in the client pod's network namespace against nginx in the web pod. */
function ab(client: KubePod, web: KubePod): number {
  const [pid] = cgroupPids(containerCgroupDir(client));
  const r = spawnSync(
    'nsenter',
    ['-t', String(pid), '-n', 'ab', '-q', '-n', '3000', '-c', '8', `http://${web.status.podIP}/`],
    { encoding: 'utf8' },
  );
  const m = /Requests per second:\s+([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`ab: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

async function served(client: KubePod, web: KubePod) {
  const rounds = 5;
  const modes = ['untraced', 'seccomp session', 'netpol session'] as const;
  const per: Record<string, number[]> = Object.fromEntries(modes.map((m) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    per.untraced.push(ab(client, web));
    const id = (await harden(['seccomp', 'start', '-n', NS, '-p', web.metadata.name])).stdout.trim();
    per['seccomp session'].push(ab(client, web));
    await harden(['seccomp', 'stop', id, '-n', NS]);
    const mon = startMonitor(['-n', NS, '-p', web.metadata.name, '--output', '/dev/null']);
    await mon.started;
    per['netpol session'].push(ab(client, web));
    await mon.stop();
  }
  say(
    `\n### Served workload (nginx pod, ab -n 3000 -c 8 from another pod's netns, ${rounds} interleaved rounds)`,
  );
  for (const m of modes) {
    const ratios = per[m].map((v, i) => v / per.untraced[i]);
    say(
      `- ${m}: ${median(per[m]).toFixed(0)} req/s median, ratio ${median(ratios).toFixed(3)} [${spread(ratios)}] (loss ${((1 - median(ratios)) * 100).toFixed(1)} %; budget < 5 %)`,
    );
  }
}

async function latency(pod: KubePod) {
  const starts: number[] = [];
  const stops: number[] = [];
  for (let i = 0; i < 5; i++) {
    let t0 = nowMs();
    const id = (await harden(['seccomp', 'start', '-n', NS, '-p', pod.metadata.name])).stdout.trim();
    starts.push(nowMs() - t0);
    await execInKubePod(NS, pod.metadata.name, ['true']);
    await new Promise((r) => setTimeout(r, 3500));
    t0 = nowMs();
    await harden(['seccomp', 'stop', id, '-n', NS]);
    stops.push(nowMs() - t0);
  }
  say(`\n### Latency (5 runs)`);
  say(
    `- seccomp start -> session Tracing (command returns): median ${(median(starts) / 1000).toFixed(2)} s [${spread(starts.map((s) => s / 1000))}] (budget < 3 s)`,
  );
  say(
    `- seccomp stop -> profile printed: median ${(median(stops) / 1000).toFixed(2)} s [${spread(stops.map((s) => s / 1000))}]`,
  );
}

const rssOf = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/** The agent pod's processes (node, and bpftrace while a session runs), from its container's cgroup. */
async function agentUsage(label: string) {
  const pids = cgroupPids(containerCgroupDir(await agentPod(), 'agent'));
  const cpuOf = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(stat[11]) + Number(stat[12])) / 100;
  };
  const sum = (f: (pid: number) => number) => pids.map(f).reduce((a, b) => a + b, 0);
  say(
    `- agent pod ${label}: RSS ${sum(rssOf).toFixed(0)} MiB, CPU time so far ${sum(cpuOf).toFixed(2)} s (${pids.length} processes)`,
  );
}

/**
 * The agent's RSS (MiB, every process of its container): the median of 7 samples a second apart,
 * since V8's heap grows and shrinks between collections.
 */
async function agentRss(): Promise<number> {
  const dir = containerCgroupDir(await agentPod(), 'agent');
  const samples: number[] = [];
  for (let i = 0; i < 7; i++) {
    samples.push(
      cgroupPids(dir)
        .map(rssOf)
        .reduce((a, b) => a + b, 0),
    );
    await new Promise((r) => setTimeout(r, 1000));
  }
  return median(samples);
}

/**
 * Issue 25.5: the agent's memory over 1,000 pod starts and deletions on its node (no session: what
 * it keeps of pods, cgroups and identities must not grow with churn), then around a namespace-wide
 * recording of 50 pods (once the sessions are gone, what they held must be too).
 */
async function memory(total = 1000, batch = 25) {
  await ensureNamespace(NS);
  const rss: [string, number][] = [['at rest', await agentRss()]];
  say(`\n### Agent memory (RSS of the agent container, median of 7 samples)`);
  say(`- at rest: ${rss[0][1].toFixed(1)} MiB`);
  const t0 = nowMs();
  for (let i = 0; i < total; i += batch) {
    const label = `churn-${i}`;
    await apply(
      Array.from({ length: batch }, (_, j) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `churn-${i + j}`, namespace: NS, labels: { batch: label } },
        spec: podSpec({
          namespace: NS,
          name: 'churn',
          image: testImage('curl'),
          command: ['sleep', '3600'],
          grace: 0,
        }),
      })),
    );
    await kubectl(
      ['wait', '-n', NS, '--for=condition=Ready', 'pod', '-l', `batch=${label}`, '--timeout=300s'],
      {
        timeoutMs: 320_000,
      },
    );
    await kubectl(['delete', 'pod', '-n', NS, '-l', `batch=${label}`, '--wait=true'], { timeoutMs: 320_000 });
    const done = i + batch;
    if (done === 2 * batch || done % 250 === 0) {
      const r = await agentRss();
      rss.push([`after ${done} pods`, r]);
      say(
        `- after ${done} pod starts and deletions: ${r.toFixed(1)} MiB (${((nowMs() - t0) / 1000).toFixed(0)} s)`,
      );
    }
  }
  const warm = rss[1][1];
  const last = rss[rss.length - 1][1];
  say(`- ${total} pods against the first ${2 * batch}: ${(last / warm).toFixed(3)}× (budget 0.9–1.1×)`);

  await runDeployment(
    {
      namespace: NS,
      name: 'fifty',
      image: testImage('curl'),
      command: ['sleep', '3600'],
      replicas: 50,
      grace: 0,
    },
    600_000,
  );
  const before = await agentRss();
  const dir = join(mkdtempSync(join(tmpdir(), 'bench-record-')), 'rec');
  const rec = await harden(
    ['record', '-n', NS, '--all', '--duration', '20s', '--output-dir', dir, '--accept-gaps'],
    {
      timeoutMs: 600_000,
    },
  );
  if (rec.code) throw new Error(`record failed: ${rec.stderr}`);
  await kubectl(['delete', 'deployment', 'fifty', '-n', NS, '--wait=true'], { timeoutMs: 320_000 });
  await kubectl(['wait', '-n', NS, '--for=delete', 'pod', '-l', 'app=fifty', '--timeout=300s'], {
    timeoutMs: 320_000,
  });
  // The agent forgets a deleted pod's cgroups after its grace (lib/agent/core/retention.ts).
  await new Promise((r) => setTimeout(r, 60_000));
  const after = await agentRss();
  say(`- 50 pods running, before a namespace-wide recording: ${before.toFixed(1)} MiB`);
  say(
    `- after \`record --all --duration 20s\` of them, its sessions gone and the pods deleted: ${after.toFixed(1)} MiB`,
  );
  say(
    `- after against before: ${(after / before).toFixed(3)}×; against the churn's first ${2 * batch}: ${(after / warm).toFixed(3)}× (budget 0.9–1.1×)`,
  );
}

async function main() {
  const only = process.argv[2];
  say(
    `# kubectl-harden benchmarks — ${new Date().toISOString().slice(0, 10)}, ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}, ${process.version}`,
  );
  if (!only || only === 'cli') cli();
  if (!only || only === 'report') report();
  if (!only || only === 'verify') verify();
  if (only && !['cluster', 'memory'].includes(only)) return;
  let deployed: Deployed | undefined;
  try {
    deployed = await deployAgent();
    if (only === 'memory') return await memory();
    say(`\n### Agent resources (deploy --image -> Ready: ${(deployed.readyMs / 1000).toFixed(1)} s)`);
    await agentUsage('at rest (no session)');
    const sleeper = (name: string) =>
      runKubePod({ namespace: NS, name, image: testImage('curl'), labels: { app: name } });
    const busy = await sleeper('busy');
    const other = await sleeper('other');
    await runKubePod({
      namespace: NS,
      name: 'web',
      image: testImage('nginx'),
      labels: { app: 'web' },
      readyPort: 80,
    });
    const web = await getPod(NS, 'web');
    const client = await sleeper('client');
    await latency(busy);
    await overhead(busy, other);
    await agentUsage('after the tracing rounds');
    await served(client, web);
  } finally {
    await deleteNamespace(NS).catch(() => undefined);
    await restoreAgent(deployed);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${(e as Error).stack}\n`);
  process.exitCode = 1;
});
