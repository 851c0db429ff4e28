/**
 * The kernel matrix's runner inside the VM (started by ./init, stdout is the second serial port):
 * probes the kernel the way the agent does at start (probeBpftrace, probeKernel with every
 * recorder's needs), then runs each planned program as the agent runs bpftrace (`-f json`, the
 * program's environment), waits for its ready line, makes the workload's container cgroup under the
 * pod's prefix (so the program arms it as it arms a new container), runs the workload in it, and
 * stops bpftrace with SIGINT so END prints every map. Each result is one record (./protocol).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupIdOf, newestCgroupIdUnder } from '../../lib/agent/core/cgroups';
import { probeBpftrace } from '../../lib/agent/core/dialect';
import { nodeSources, probeKernel } from '../../lib/agent/core/kernel';
import { READY } from '../../lib/agent/core/program';
import {
  encodeRecord,
  type GuestPlan,
  type GuestProgram,
  type GuestRecord,
  type ProgramRecord,
} from './protocol';

const CGROUP_MOUNT = '/sys/fs/cgroup';
const WORKLOAD = ['/usr/bin/node', '/matrix/workload.cjs'];

const emit = (r: GuestRecord) => process.stdout.write(encodeRecord(r));
const uptime = () => Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runProgram(p: GuestProgram, readyTimeoutS: number, args: string[]): Promise<ProgramRecord> {
  const file = `/tmp/${p.id.replace(/[^A-Za-z0-9]/g, '_')}.bt`;
  fs.writeFileSync(file, p.text);
  const rec: ProgramRecord = {
    type: 'program',
    id: p.id,
    ready: false,
    loadS: 0,
    exit: '',
    timedOut: false,
    stdout: [],
    stderr: '',
    cgroupPath: `/${p.cgroupDir}`,
  };
  const t0 = Date.now();
  // As the agent starts a program: the newest cgroup id now is $2 (ProgramTargets.newerThan), so
  // the workload's cgroup, made once the program is ready, must be newer for anything to record.
  const newest = newestCgroupIdUnder(CGROUP_MOUNT) ?? '0';
  const child = spawn('bpftrace', ['-f', 'json', file, ...args, newest], {
    env: { ...process.env, ...p.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let partial = '';
  let onReady: () => void = () => undefined;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      rec.stdout.push(l);
      if (l.includes(READY)) onReady();
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    rec.stderr = (rec.stderr + chunk).slice(-8000);
  });
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      rec.exit = signal ? `signal ${signal}` : `exit ${code}`;
      resolve();
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  const ready = new Promise<boolean>((resolve) => {
    onReady = () => resolve(true);
    void exited.then(() => resolve(false));
    timer = setTimeout(() => resolve(false), readyTimeoutS * 1000);
  });
  rec.ready = await ready;
  clearTimeout(timer);
  rec.loadS = (Date.now() - t0) / 1000;
  if (rec.ready) {
    const dir = path.join(CGROUP_MOUNT, p.cgroupDir);
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    fs.mkdirSync(dir);
    rec.cgroupId = cgroupIdOf(dir);
    // As runc 1.1's init: the shell moves itself into the container's cgroup, execs another program
    // in the same mount namespace (its exec of itself), which makes the container's mount namespace
    // (unshare, mount) and execs the workload there: the entrypoint, whose exec starts the recording.
    const init = `echo $$ > ${dir}/cgroup.procs && exec unshare -m "$@"`;
    const w = spawn('/bin/sh', ['-c', init, 'sh', ...WORKLOAD], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    w.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    w.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => w.kill('SIGKILL'), 120_000);
      w.on('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    rec.workload = { code, output: output.slice(-4000) };
    // One print interval, then SIGINT: END prints and clears every map.
    await sleep(1500);
  } else if (!rec.exit) {
    rec.timedOut = true;
  }
  if (!rec.exit) {
    child.kill('SIGINT');
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(killer);
  }
  if (partial) rec.stdout.push(partial);
  if (rec.timedOut) rec.exit = `no ready line within ${readyTimeoutS} s (${rec.exit})`;
  try {
    fs.rmdirSync(path.join(CGROUP_MOUNT, p.cgroupDir));
  } catch {
    // Not made, or a straggler still in it: the next program has a cgroup of its own.
  }
  return rec;
}

async function main() {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as GuestPlan;
  const bpftrace = await probeBpftrace('bpftrace');
  const facts = probeKernel(nodeSources(process.env, bpftrace.fentry), plan.needs.probes, plan.needs.members);
  const userRegs = bpftrace.dialect?.userRegs;
  emit({
    type: 'facts',
    bpftrace: bpftrace.version,
    fentry: bpftrace.fentry,
    userRegs,
    facts,
    uptimeS: uptime(),
  });
  // What this kernel measured, as the agent passes its node's (cells.ts: the text takes it as $1).
  const args = [String(userRegs ?? 0)];
  for (const p of plan.programs) emit(await runProgram(p, plan.readyTimeoutS, args));
  emit({ type: 'done', uptimeS: uptime() });
  process.exit(0);
}

void main();
