// Added CPU per syscall of the agent's programs, run by the agent image's bpftrace
// (scripts/testenv/bpftrace-image, 0.23.2) on this machine, without the test cluster: dd runs in
// cgroups laid out as a kubelet would make a pod's, the programs are planned and assembled by the
// agent's own planner and assembler for sessions on that pod, in the dialect the agent's own probe
// finds for that bpftrace. An eBPF program on sys_enter runs in the calling task, so dd's own CPU
// time (user+sys) carries its cost, while the rest of the machine (busy with other work) does not.
// Modes are interleaved, a round at a time; the programs as they were before the probe on every
// syscall passed over cgroups it can never record (no ProgramTargets.newerThan: a map lookup for
// every cgroup) run in the same rounds. Added costs are medians over rounds of (mode − untraced) in
// the same round.
//
//   npm run bench -- syscalls [--rounds 7] [--bytes 1000000] [--runs 5] [--bpftrace PATH]
// Root only (cgroups, bpftrace).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assembleProgram } from '../../lib/agent/core/assemble';
import { CgroupLayout, containerCgroupDir, newestCgroupIdUnder } from '../../lib/agent/core/cgroups';
import { probeBpftrace, type Dialect } from '../../lib/agent/core/dialect';
import { planTargets } from '../../lib/agent/core/plan';
import { READY, type Program } from '../../lib/agent/core/program';
import type { PlannedSession, Recorder } from '../../lib/agent/core/recorder';
import { RECORDERS } from '../../lib/agent/recorders';
import type { Pod } from '../../lib/kube/objects';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const ROUNDS = Number(arg('rounds', '7'));
const BYTES = Number(arg('bytes', '1000000'));
const BPFTRACE = arg('bpftrace', join(__dirname, '..', 'scripts', 'testenv', 'bpftrace-image'));
const RUNS = Number(arg('runs', '5'));
// Which route each kind takes here (this kernel serves every tracepoint route: Linux ≥ 6.14).
const ROUTES: Record<string, string> = {
  seccomp: 'tracepoint',
  network: 'tracepoint',
  capabilities: 'tracepoint',
};

// The cgroup2 hierarchy: the unified mount of a hybrid host, or /sys/fs/cgroup itself.
const MOUNT = (() => {
  const r = spawnSync('findmnt', ['-n', '-t', 'cgroup2', '-o', 'TARGET'], { encoding: 'utf8' });
  const m = r.stdout.split('\n').filter(Boolean)[0];
  if (!m) throw new Error('no cgroup2 mount');
  return m;
})();
const ROOT = '/harden-syscall-bench';
const layout = new CgroupLayout({ mountPoint: MOUNT, root: ROOT }, 'systemd');

function pod(name: string, uid: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'bench', uid },
    spec: { containers: [{ name: 'main' }] },
    status: {
      podIP: name === 'target' ? '10.244.0.10' : '10.244.0.11',
      podIPs: [{ ip: name === 'target' ? '10.244.0.10' : '10.244.0.11' }],
      qosClass: 'BestEffort',
      containerStatuses: [
        {
          name: 'main',
          containerID: `containerd://${uid.replace(/-/g, '').padEnd(64, '0')}`,
          state: { running: {} },
        },
      ],
    },
  } as Pod;
}
const target = pod('target', '11111111-2222-3333-4444-555555555555');
const other = pod('other', '66666666-7777-8888-9999-000000000000');

/** Makes the pod's container cgroup (as the kubelet's systemd driver names it); its directory. */
function containerDir(p: Pod): string {
  const id = p.status!.containerStatuses![0].containerID!;
  const rel = containerCgroupDir('systemd', 'BestEffort', p.metadata.uid!, id)!;
  const dir = join(MOUNT, ROOT, rel);
  mkdirSync(dir, { recursive: true });
  return dir;
}
// The other pod's container is made after the target's: a program started between the two has
// the other pod newer than its start (it may be armed later), one started after both older.
const targetDir = containerDir(target);
const startedBetween = newestCgroupIdUnder(join(MOUNT, ROOT));
const dirs = { target: targetDir, other: containerDir(other) };
const startedAfter = newestCgroupIdUnder(join(MOUNT, ROOT));

/** The program the agent starts for sessions of these kinds on the target pod, newest cgroup id `newerThan`. */
function program(kinds: string[], dialect: Dialect, newerThan: string | undefined): Program {
  const recorders = RECORDERS.filter((r) => kinds.includes(r.type));
  if (recorders.length !== kinds.length) throw new Error(`no recorder for one of ${kinds.join(', ')}`);
  const sessions: PlannedSession[] = recorders.map((r) => ({
    metadata: { name: `bench-${r.type}`, namespace: 'bench' },
    spec: { type: r.type, target: { podName: 'target' }, state: 'Running' },
  }));
  const { targets } = planTargets({
    sessions,
    recorders,
    pods: new Map([
      [target.metadata.uid!, target],
      [other.metadata.uid!, other],
    ]),
    cgroups: new Map(),
    layout,
    // The layout's root is where the pods' tree is in the hierarchy; its directories are below it.
    cgroupIdOf: (dir) => String(statSync(join(MOUNT, ROOT, dir.slice(MOUNT.length))).ino),
  });
  return assembleProgram(
    { ...targets, newerThan },
    {
      intervalMs: 1000,
      dialect,
      arch: 'amd64',
      routes: recorders.map((recorder: Recorder) => ({
        recorder,
        route: recorder.routes.find((r) => r.name === ROUTES[recorder.type])!,
      })),
    },
  );
}

interface Mode {
  name: string;
  program?: Program;
  cgroup: string;
}
const floor = (head: string, body = '', begin = ''): Program => ({
  text: `${head} {${body} }\nBEGIN {${begin} printf("${READY}\\n"); }\n`,
  env: {},
  args: [],
});
// The least a probe on every syscall runs to tell one pod from another: the caller's cgroup id (a
// helper call) and one comparison that never holds. Every program that records per pod pays it.
const CGROUP_TEST = ' if (cgroup == 1) { @never = 1; }';
// The least a probe records a traced pod's syscall with: that, and one lookup of the set of (cgroup,
// syscall) pairs seen (bpftrace's maps are hash maps), which here never finds the pair.
const SET_LOOKUP = ' if (@seen[cgroup, arg1]) { @never = 1; }';
// The seccomp program also attaches two syscall-exit tracepoints (a filter's installation); enabling
// any puts a probe call on every syscall's exit, wherever it runs.
const EXIT_PROBES = 'tracepoint:syscalls:sys_exit_seccomp { }\ntracepoint:syscalls:sys_exit_prctl { }\n';

function modesFor(dialect: Dialect): Mode[] {
  // 0.17's text reads no newest cgroup id: its "before" rows would be the same program.
  const onRaw = (m: Mode): Mode[] => (dialect.syscalls === 'rawtracepoint' ? [m] : []);
  const seccomp = (name: string, newerThan: string | undefined, cgroup: string): Mode => ({
    name,
    program: program(['seccomp'], dialect, newerThan),
    cgroup,
  });
  return [
    { name: 'untraced', cgroup: dirs.target },
    {
      name: 'floor: tracepoint:raw_syscalls:sys_enter { }',
      program: floor('tracepoint:raw_syscalls:sys_enter'),
      cgroup: dirs.target,
    },
    ...onRaw({
      name: 'floor: rawtracepoint:sys_enter { }',
      program: floor('rawtracepoint:sys_enter'),
      cgroup: dirs.target,
    }),
    ...onRaw({
      name: 'least: the cgroup id and one comparison',
      program: floor('rawtracepoint:sys_enter', CGROUP_TEST),
      cgroup: dirs.other,
    }),
    ...onRaw({
      name: "least: that, with the seccomp program's two syscall-exit tracepoints",
      program: floor(`${EXIT_PROBES}rawtracepoint:sys_enter`, CGROUP_TEST),
      cgroup: dirs.other,
    }),
    ...onRaw({
      name: 'least for a traced pod: the cgroup id and one set lookup',
      program: floor('rawtracepoint:sys_enter', SET_LOOKUP, ' @seen[0, 0] = 1;'),
      cgroup: dirs.target,
    }),
    ...onRaw(seccomp('before: seccomp session on this pod', undefined, dirs.target)),
    seccomp('seccomp session on this pod', startedAfter, dirs.target),
    ...onRaw(seccomp('before: seccomp session on another pod', undefined, dirs.other)),
    seccomp('seccomp session on another pod, older than the program', startedAfter, dirs.other),
    seccomp('seccomp session on another pod, newer than the program', startedBetween, dirs.other),
    {
      name: 'seccomp + capabilities + network on this pod',
      program: program(['seccomp', 'capabilities', 'network'], dialect, startedAfter),
      cgroup: dirs.target,
    },
  ];
}

async function start(p: Program): Promise<ChildProcess> {
  const file = `/tmp/harden-syscall-bench-${process.pid}.bt`;
  writeFileSync(file, p.text);
  const child = spawn(BPFTRACE, [file, ...p.args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...p.env },
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(READY)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`bpftrace exited ${code}: ${err}`)));
  });
  return child;
}

const stop = (c: ChildProcess) =>
  new Promise<void>((resolve) => {
    c.once('exit', () => resolve());
    c.kill('SIGINT');
  });

/**
 * dd's CPU seconds per syscall (user+sys from bash's time: getrusage, 1 ms), run in the cgroup RUNS
 * times in a row; the least of them. Other work on the machine only ever adds to a run's time (cache
 * and core contention), so the least run is the one nearest what the program itself costs.
 */
function dd(cgroup: string): number {
  const r = spawnSync(
    'bash',
    [
      '-c',
      `echo $$ > ${cgroup}/cgroup.procs && TIMEFORMAT='%3U %3S' && for ((i = 0; i < ${RUNS}; i++)); do ` +
        `time dd if=/dev/zero of=/dev/null bs=1 count=${BYTES} 2>/dev/null; done`,
    ],
    { encoding: 'utf8' },
  );
  const runs = [...r.stderr.matchAll(/^([\d.]+) ([\d.]+)$/gm)].map((m) => Number(m[1]) + Number(m[2]));
  if (r.status !== 0 || runs.length !== RUNS) throw new Error(`dd failed: ${r.stderr}`);
  return Math.min(...runs) / (2 * BYTES);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs: number[]) =>
  `${median(xs).toFixed(2)} [${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}]`;

async function main() {
  const probe = await probeBpftrace(BPFTRACE);
  if (!probe.dialect) throw probe.problem ?? new Error(`${BPFTRACE}: no dialect`);
  const modes = modesFor(probe.dialect);
  const version = `${probe.version}${probe.dialect.userRegs === undefined ? '' : ` (user registers at stack + ${probe.dialect.userRegs})`}`;
  const per: number[][] = modes.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, m] of modes.entries()) {
      const child = m.program ? await start(m.program) : undefined;
      per[i].push(dd(m.cgroup));
      if (child) await stop(child);
    }
    process.stderr.write(`round ${r + 1}: ${per.map((p) => (p[r] * 1e9).toFixed(0)).join(' ')} ns\n`);
  }
  const base = per[0];
  const med = (i: number) => median(per[i]);
  // Added cost: median over rounds of (this mode − untraced) in the same round.
  const added = (i: number) => median(per[i].map((x, j) => x - base[j]));
  const ns = (x: number) => `${(x * 1e9).toFixed(1)} ns`;
  const floorRaw = probe.dialect.syscalls === 'rawtracepoint' ? 2 : undefined;
  const seccompIdx = modes.findIndex((m) => m.name === 'seccomp session on this pod');
  console.log(
    `\n${version}, ${ROUNDS} interleaved rounds, dd bs=1 count=${BYTES} (${2 * BYTES} syscalls) × ${RUNS} runs per round, least run's CPU time`,
  );
  console.log(
    `| mode | CPU per syscall | ratio to untraced | added per syscall | ÷ tracepoint floor's added | ${floorRaw ? "÷ raw tracepoint floor's added | " : ''}÷ seccomp alone's added |`,
  );
  console.log(`|---|---|---|---|---|${floorRaw ? '---|' : ''}---|`);
  modes.forEach((m, i) => {
    const ratio = fmt(per[i].map((x, j) => x / base[j]));
    const over = (f: number) => (i ? (added(i) / added(f)).toFixed(2) : '–');
    const vsAlone = m.name.includes('capabilities') ? (added(i) / added(seccompIdx)).toFixed(2) : '–';
    console.log(
      `| ${m.name} | ${ns(med(i))} | ${ratio} | ${i ? ns(added(i)) : '–'} | ${over(1)} | ${floorRaw ? `${over(floorRaw)} | ` : ''}${vsAlone} |`,
    );
  });
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const d of [dirs.target, dirs.other]) {
      // Leaves of the tree first; dd has exited, so each is empty.
      let dir = d;
      while (dir.length > join(MOUNT, ROOT).length) {
        try {
          rmdirSync(dir);
        } catch {
          break;
        }
        dir = join(dir, '..');
      }
    }
    try {
      rmdirSync(join(MOUNT, ROOT));
    } catch {
      // the other pod's tree is still there on the first pass
    }
  });
