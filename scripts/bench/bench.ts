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
import { harden, REPO_ROOT, testenvEnv } from '../../test/support/cluster';
import {
  deleteNamespace,
  execInKubePod,
  getPod,
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

function timeCmd(cmd: string, args: string[], env = process.env): number {
  const t0 = nowMs();
  const r = spawnSync(cmd, args, { env, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return nowMs() - t0;
}

/** Interleaved runs of several commands; ratios against the first (the baseline). */
function interleave(label: string, cmds: [string, string, string[]][], runs: number) {
  const times = cmds.map(() => [] as number[]);
  for (let r = 0; r < runs; r++)
    cmds.forEach(([, c, a], i) => times[i].push(timeCmd(c, a, testenvEnv().processEnv)));
  say(`\n### ${label} (${runs} interleaved runs each; ratio to ${cmds[0][0]}, median [min–max])`);
  const base = times[0];
  cmds.forEach(([name], i) => {
    const ratios = times[i].map((t, k) => t / base[k]);
    say(
      `- ${name}: ${median(times[i]).toFixed(1)} ms median, ratio ${median(ratios).toFixed(2)} [${spread(ratios)}]`,
    );
  });
}

function cli() {
  const bundle = join(REPO_ROOT, 'dist', 'kubectl-harden.cjs');
  const sea = join(REPO_ROOT, 'dist', 'release', 'linux-amd64', 'kubectl-harden');
  const kubectl = join(testenvEnv().binDir, 'kubectl');
  const cmds: [string, string, string[]][] = [
    ['node -e 0', process.execPath, ['-e', '0']],
    ['kubectl-harden.cjs --help', process.execPath, [bundle, '--help']],
    ['kubectl-harden.cjs version --client', process.execPath, [bundle, 'version', '--client']],
    ['kubectl version --client', kubectl, ['version', '--client']],
  ];
  if (existsSync(sea))
    cmds.push(['SEA --help', sea, ['--help']], ['SEA version --client', sea, ['version', '--client']]);
  interleave('CLI start-up', cmds, 15);
}

/** The bundled CLI under /usr/bin/time, 3 runs: wall seconds and peak RSS (MiB) of each. */
function timedCli(args: string[]): { s: number; rss: number }[] {
  const runs: { s: number; rss: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = nowMs();
    const r = spawnSync(
      '/usr/bin/time',
      ['-f', '%M', process.execPath, join(REPO_ROOT, 'dist', 'kubectl-harden.cjs'), ...args],
      { encoding: 'utf8', maxBuffer: 1 << 26 },
    );
    const rss = Number(r.stderr.trim().split('\n').pop());
    runs.push({ s: (nowMs() - t0) / 1000, rss: rss / 1024 });
  }
  return runs;
}

function flowLog(dir: string, n: number): string {
  const file = join(dir, `${n}.log`);
  spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'gen-flow-log.mjs'), String(n), file], {
    stdio: 'ignore',
  });
  return file;
}

function sayRuns(what: string, n: number, runs: { s: number; rss: number }[]) {
  const s = runs.map((r) => r.s);
  say(
    `- ${what}: ${median(s).toFixed(2)} s median [${spread(s)}], ${(n / median(s) / 1000).toFixed(0)}k lines/s, peak RSS ${median(runs.map((r) => r.rss)).toFixed(0)} MiB`,
  );
}

function report() {
  const dir = mkdtempSync(join(tmpdir(), 'harden-bench-'));
  say('\n### netpol report throughput (bundled CLI; /usr/bin/time for peak RSS)');
  for (const n of [10_000, 100_000, 1_000_000])
    sayRuns(`${n} flow lines`, n, timedCli(['netpol', 'report', '--input', flowLog(dir, n)]));
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
  say('\n### netpol verify throughput (bundled CLI; /usr/bin/time for peak RSS)');
  sayRuns(
    `${n} flow lines, ${policies.length} policies`,
    n,
    timedCli(['netpol', 'verify', '--input', log, '-f', file]),
  );
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

/** The agent pod's processes (node, and bpftrace while a session runs), from its container's cgroup. */
async function agentUsage(label: string) {
  const pids = cgroupPids(containerCgroupDir(await agentPod(), 'agent'));
  const rssOf = (pid: number) =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const cpuOf = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(stat[11]) + Number(stat[12])) / 100;
  };
  const sum = (f: (pid: number) => number) => pids.map(f).reduce((a, b) => a + b, 0);
  say(
    `- agent pod ${label}: RSS ${sum(rssOf).toFixed(0)} MiB, CPU time so far ${sum(cpuOf).toFixed(2)} s (${pids.length} processes)`,
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
  if (only && !['cluster'].includes(only)) return;
  let deployed: Deployed | undefined;
  try {
    deployed = await deployAgent();
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
