/**
 * The generated bpftrace programs against the real kernel and the agent image's bpftrace (root, no
 * cluster; see bpftrace-under-test.ts): cgroups are made by hand in the layout kubelet +
 * containerd use, below a test directory of the node's cgroup2 mount.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BpftraceRun } from '../../lib/agent/core/bpftrace';
import { CgroupLayout, cgroupIdOf, findCgroup2Mount, type QosClass } from '../../lib/agent/core/cgroups';
import type { Dialect } from '../../lib/agent/core/dialect';
import type { PrivilegeEvent } from '../../lib/agent/recorders/privileges/parse';
import { PrivilegeTable } from '../../lib/agent/recorders/privileges/record';
import type { FlowRecord } from '../../lib/agent/recorders/network/parse';
import type { SyscallEvent } from '../../lib/agent/recorders/syscalls/parse';
import type { TraceEvent } from '../../lib/agent/core/output';
import type { ProgramTargets } from '../../lib/agent/core/program';
import { parse, programFor, recordedBy, seccompOnlyProgram } from '../support/programs';
import { hostSyscalls, isHostSyscall } from '../support/syscalls';
import type { SessionType } from '../../lib/session/types';
import { Tracer } from '../../lib/agent/core/tracer';
import { networkInputs } from '../../lib/agent/recorders/network';
import { BPFTRACE, canRunBpftrace, dialectUnderTest } from './bpftrace-under-test';

// The host's own numbers (mkdir and rmdir do not exist on arm64; mkdirat and unlinkat do everywhere).
const SYS = hostSyscalls('connect', 'execve', 'mkdir', 'mkdirat', 'rmdir', 'unlinkat', 'exit_group');
const INTERVAL = 300;
const ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const canRun = canRunBpftrace && fs.existsSync('/usr/bin/busybox');
const d = canRun ? describe : describe.skip;

const node = canRun ? findCgroup2Mount() : { mountPoint: '/sys/fs/cgroup', root: '/' };
// Everything below one test directory, seen as if the cgroup2 mount showed only that sub-tree:
// paths keep kubelet's shape and the node's own kubepods tree is never touched.
const testRoot = path.posix.join(node.root, `harden-e2e-${randomBytes(3).toString('hex')}`);
const mount = {
  mountPoint: path.join(node.mountPoint, path.posix.relative(node.root, testRoot)),
  root: testRoot,
};
// The cgroupfs driver's layout, as kubelet + containerd use it on this node (bpftrace 0.17 prints
// at most 200 characters of a new cgroup's path: a systemd-driver path plus a test prefix is more).
const layout = new CgroupLayout(mount, 'cgroupfs');
const made: string[] = [];
const children: ChildProcess[] = [];

/** A pod UID + container id pair, and the directories they map to. */
function fakeContainer(podUID = randomUUID()) {
  const id = randomBytes(32).toString('hex');
  const dir = layout.containerDir('BestEffort', podUID, `containerd://${id}`)!;
  return { podUID, id, dir, prefix: layout.podPrefix('BestEffort', podUID) };
}

function mkdirCgroup(dir: string): string {
  const parts = path.relative(node.mountPoint, dir).split('/');
  for (let i = 1; i <= parts.length; i++) {
    const p = path.join(node.mountPoint, ...parts.slice(0, i));
    if (!fs.existsSync(p)) {
      fs.mkdirSync(p);
      made.push(p);
    }
  }
  return cgroupIdOf(dir)!;
}

/**
 * A shell in a mount namespace of its own, as a container's init is, that moves itself into `dir`,
 * then execs `command` (by default busybox sh running `script`).
 */
function waiter(dir: string, script: string, command = `/usr/bin/busybox sh -c '${script}'`): ChildProcess {
  const c = spawn('unshare', ['-m', 'sh', '-c', `echo $$ > ${dir}/cgroup.procs && exec ${command}`], {
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  children.push(c);
  return c;
}
/** A container's writes as the agent's table settles them: relative paths spelled out from their directory's names. */
function tabledWrites(events: PrivilegeEvent[], cg: string, c: ReturnType<typeof fakeContainer>) {
  const table = new PrivilegeTable(ARCH);
  table.add(events.filter((e) => e.cgroup === cg || e.kind === 'dir'));
  table.settle(cg, {
    pod: 'p',
    podUID: c.podUID,
    container: 'c',
    containerID: c.id,
    recordedFromStart: true,
    filterSeen: false,
  });
  return table.containers()[0].writes;
}
const exited = (c: ChildProcess) =>
  new Promise<void>((r) => (c.exitCode !== null ? r() : c.once('exit', () => r())));

/**
 * The targets as the agent starts their program: with the newest cgroup id under the pods' tree,
 * so the probe on every syscall passes over older cgroups that are not seeds (ProgramTargets.newerThan).
 */
function asStarted(t: ProgramTargets): ProgramTargets {
  const newerThan = layout.newestPodCgroupId();
  expect(newerThan).toBeDefined();
  return { ...t, newerThan };
}

/** Everything a program reported, by cgroup. */
class Seen {
  sets = new Map<string, Set<number>>();
  armed = new Map<string, string>();
  exec = new Set<string>();
  filter = new Set<string>();
  prints = 0;
  on = (e: TraceEvent): void => {
    if (e.kind === 'recorded' && e.recorder === 'seccomp') {
      this.prints++;
      for (const { cgroup, nrs } of recordedBy<SyscallEvent>('seccomp', e)) {
        if (!this.sets.has(cgroup)) this.sets.set(cgroup, new Set());
        for (const nr of nrs) this.sets.get(cgroup)!.add(nr);
      }
    }
    if (e.kind === 'armed') this.armed.set(e.cgroup, e.path);
    if (e.kind === 'exec') this.exec.add(e.cgroup);
    if (e.kind === 'filter') this.filter.add(e.cgroup);
  };
  has(cg: string, ...nrs: (number | undefined)[]): boolean {
    return nrs.some((n) => n !== undefined && this.sets.get(cg)?.has(n));
  }
  /** Waits until two more interval prints happened (both phases flushed). */
  async settle(): Promise<void> {
    const start = this.prints;
    for (let i = 0; i < 100 && this.prints < start + 4; i++) await sleep(INTERVAL / 4);
  }
}

d('bpftrace engine (real kernel)', () => {
  const runs: BpftraceRun[] = [];
  const tracers: Tracer[] = [];
  let dialect: Dialect;

  beforeAll(async () => {
    ({ dialect } = await dialectUnderTest());
    // The pods' tree the agent reads the newest cgroup id from (asStarted).
    mkdirCgroup(layout.dirOfHierarchyPath(layout.nodePrefix())!);
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await Promise.all(tracers.map((t) => t.close()));
    await Promise.all(runs.map((r) => r.stop()));
    await sleep(100);
    for (const dir of made.reverse()) {
      try {
        fs.rmdirSync(dir);
      } catch {
        // Still populated by a straggler: leave it rather than fail the cleanup of the others.
      }
    }
  });

  async function start(t: ProgramTargets, seen: Seen): Promise<BpftraceRun> {
    const run = new BpftraceRun(seccompOnlyProgram(asStarted(t), INTERVAL, dialect), seen.on, {
      binary: BPFTRACE,
      ...parse,
    });
    runs.push(run);
    await run.start();
    return run;
  }

  /**
   * The program the agent composes for these session kinds, arming `prefix`, started: what it
   * reports, as it comes (privilege events, and the seccomp recorder's life records).
   */
  async function startKinds(kinds: { type: SessionType }[], prefix: string) {
    const seen = new Seen();
    const events: PrivilegeEvent[] = [];
    const lives: SyscallEvent[] = [];
    const program = programFor(
      kinds,
      asStarted({ seeds: [], podPrefixes: [prefix] }),
      INTERVAL,
      dialect,
      ARCH,
    );
    const run = new BpftraceRun(
      program,
      (e) => {
        seen.on(e);
        events.push(...recordedBy<PrivilegeEvent>('capabilities', e));
        lives.push(...recordedBy<SyscallEvent>('seccomp', e).filter((x) => x.life));
      },
      { binary: BPFTRACE, ...parse },
    );
    runs.push(run);
    await run.start();
    return { run, seen, events, lives };
  }

  test('a seeded running container is recorded from the start of tracing, not before', async () => {
    const c = fakeContainer();
    const cg = mkdirCgroup(c.dir);
    const target = `/tmp/harden-e2e-${c.id.slice(0, 8)}`;
    const p = waiter(c.dir, `read x; /usr/bin/busybox mkdir ${target}; rmdir ${target}`);
    await sleep(200);
    const seen = new Seen();
    const run = await start({ seeds: [{ id: cg, recording: true }], podPrefixes: [c.prefix] }, seen);
    await seen.settle();
    expect(seen.has(cg, SYS.mkdir, SYS.mkdirat)).toBe(false);
    p.stdin!.end('go\n');
    await exited(p);
    await seen.settle();
    expect(seen.has(cg, SYS.mkdir, SYS.mkdirat)).toBe(true);
    // Seeded as running: no lifecycle events for it.
    expect(seen.exec.has(cg)).toBe(false);
    await run.stop();
    expect(run.stderr).toBe('');
  });

  test('a cgroup made after start under an armed pod prefix is recorded from its first exec; others are not', async () => {
    const c = fakeContainer();
    const other = fakeContainer();
    mkdirCgroup(path.dirname(c.dir));
    const seen = new Seen();
    const run = await start({ seeds: [], podPrefixes: [c.prefix] }, seen);
    const cg = mkdirCgroup(c.dir);
    const otherCg = mkdirCgroup(other.dir);
    await sleep(200);
    expect(seen.armed.get(cg)).toBe(layout.hierarchyPath(path.relative(mount.mountPoint, c.dir)));
    expect(seen.armed.has(otherCg)).toBe(false);
    const target = `/tmp/harden-e2e-${c.id.slice(0, 8)}`;
    // Exec'd directly: everything before (the move, restoring stdout, execve) is the shell's, not the workload's.
    const p = waiter(c.dir, '', `/usr/bin/busybox mkdir ${target}`);
    const q = waiter(other.dir, '', `/usr/bin/busybox mkdir ${target}-other`);
    await Promise.all([exited(p), exited(q)]);
    fs.rmdirSync(target);
    fs.rmdirSync(`${target}-other`);
    await seen.settle();
    expect(seen.exec.has(cg)).toBe(true);
    expect(seen.has(cg, SYS.mkdir, SYS.mkdirat)).toBe(true);
    expect(seen.has(cg, SYS.exit_group)).toBe(true);
    // The shell's own work after it moved in (restoring stdout, the execve itself) came before the exec.
    expect(seen.has(cg, SYS.execve)).toBe(false);
    expect(seen.sets.has(otherCg)).toBe(false);
    expect([...seen.sets.keys()]).toEqual([cg]);
    await run.stop();
    // What the agent would put into the BpftraceReady condition: no warnings, deprecations or errors.
    expect(run.stderr).toBe('');
  });

  test('a program for 250 pods of every QoS class and both cgroup drivers loads, and arms the new cgroups of target pods only', async () => {
    // A namespace-wide recording on a full node. A probe per prefix grew the program with the pods:
    // bpftrace 0.23 refused it from 33 pods on (BPF stack limit), so such a recording refused all.
    const systemd = new CgroupLayout(mount, 'systemd');
    const classes: QosClass[] = ['BestEffort', 'Burstable', 'Guaranteed'];
    const pods = Array.from({ length: 250 }, (_, i) => ({
      at: i % 2 ? layout : systemd,
      qos: classes[i % 3],
      uid: randomUUID(),
    }));
    const containerID = () => `containerd://${randomBytes(32).toString('hex')}`;
    const seen = new Seen();
    const program = programFor(
      [{ type: 'seccomp' }, { type: 'capabilities' }, { type: 'network' }],
      asStarted({ seeds: [], podPrefixes: pods.map((p) => p.at.podPrefix(p.qos, p.uid)) }),
      INTERVAL,
      dialect,
      ARCH,
    );
    const run = new BpftraceRun(program, seen.on, { binary: BPFTRACE, ...parse });
    runs.push(run);
    await run.start();
    // One container of each driver and class, the last pod's, and a pod outside the recording.
    const targets = [...pods.slice(0, 6), pods[249]].map((p) =>
      mkdirCgroup(p.at.containerDir(p.qos, p.uid, containerID())!),
    );
    const others = [layout, systemd].map((at) =>
      mkdirCgroup(at.containerDir('Burstable', randomUUID(), containerID())!),
    );
    await sleep(200);
    expect(targets.filter((cg) => !seen.armed.has(cg))).toEqual([]);
    expect(others.filter((cg) => seen.armed.has(cg))).toEqual([]);
    expect(seen.armed.size).toBe(targets.length);
    await run.stop();
    expect(run.stderr).toBe('');
  });

  test('switching programs overlaps: nothing is missed, including a cgroup armed while the new one attached', async () => {
    const a = fakeContainer();
    const b = fakeContainer();
    mkdirCgroup(path.dirname(a.dir));
    const seen = new Seen();
    // What the agent knows: cgroups armed (recording once exec'd) plus the wanted pod prefixes.
    const prefixes = [a.prefix];
    const tracer = new Tracer(
      {
        targets: () => ({
          seeds: [...seen.armed.keys()].map((id) => ({
            id,
            recording: seen.exec.has(id) || seen.filter.has(id),
          })),
          podPrefixes: [...prefixes],
        }),
        program: (t) => seccompOnlyProgram(asStarted(t), INTERVAL, dialect),
        onEvent: seen.on,
        onHealth: (e) => {
          if (e) throw e;
        },
      },
      { binary: BPFTRACE, ...parse },
    );
    tracers.push(tracer);
    await tracer.reconcile();
    const first = tracer.current!;
    // A container starts under pod a; its entrypoint waits, then mkdirs during and after the switch.
    const cg = mkdirCgroup(a.dir);
    const target = `/tmp/harden-e2e-${a.id.slice(0, 8)}`;
    const p = waiter(
      a.dir,
      `read x; /usr/bin/busybox mkdir ${target}; read y; rmdir ${target}; read z; exec /usr/bin/busybox true`,
    );
    // Its exec reaches us through bpftrace's output: waited for, not timed (a busy machine takes longer).
    for (let i = 0; i < 200 && !seen.exec.has(cg); i++) await sleep(50);
    expect(seen.exec.has(cg)).toBe(true);
    // The switch (pod b added): while the new program compiles, mkdir (old program only) ...
    prefixes.push(b.prefix);
    const switching = tracer.reconcile();
    await sleep(50);
    p.stdin!.write('1\n');
    // ... and a second container under pod a appears and execs before the new program attaches.
    const dir2 = layout.containerDir(
      'BestEffort',
      a.podUID,
      `containerd://${randomBytes(32).toString('hex')}`,
    )!;
    const cg2 = mkdirCgroup(dir2);
    const p2 = waiter(dir2, `read x; /usr/bin/busybox mkdir ${target}-2; rmdir ${target}-2`);
    await switching;
    expect(tracer.current).not.toBe(first);
    expect(first.exited).toBe(true);
    expect(tracer.runningCount).toBe(1);
    // After the switch: rmdir and the final exec must be recorded by the new program.
    p.stdin!.end('2\n3\n');
    p2.stdin!.end('go\n');
    await Promise.all([exited(p), exited(p2)]);
    await seen.settle();
    expect(seen.has(cg, SYS.mkdir, SYS.mkdirat)).toBe(true);
    expect(seen.has(cg, SYS.rmdir, SYS.unlinkat)).toBe(true);
    expect(seen.has(cg, SYS.execve)).toBe(true);
    expect(seen.has(cg2, SYS.mkdir, SYS.mkdirat)).toBe(true);
    await tracer.close();
  });
  test('more new syscalls in one interval than the set map holds: the program says so; fewer: it does not', async () => {
    // perl (Essential in Debian) calls any number: ENOSYS, but the tracepoint sees each one. A long
    // interval, so however slowly a loaded node runs the loop, it spans at most two phases.
    const fullEvents = async (last: number): Promise<number> => {
      const c = fakeContainer();
      const cg = mkdirCgroup(c.dir);
      let full = 0;
      const run = new BpftraceRun(
        seccompOnlyProgram(
          asStarted({ seeds: [{ id: cg, recording: true }], podPrefixes: [] }),
          5000,
          dialect,
        ),
        (e) => {
          if (e.kind === 'full') full++;
        },
        { binary: BPFTRACE, ...parse },
      );
      runs.push(run);
      await run.start();
      await exited(waiter(c.dir, '', `/usr/bin/perl -e 'syscall($_) for 1000..${last}'`));
      // END says it too, for the phases not printed yet.
      await run.stop();
      expect(run.stderr).toBe('');
      return full;
    };
    // 4 000 numbers fit; 59 000 put more than MAP_KEYS_MAX (16 384) into at least one phase.
    expect(await fullEvents(5000)).toBe(0);
    expect(await fullEvents(60000)).toBeGreaterThanOrEqual(1);
  });

  test('the node program of both session kinds arms, and records syscalls and flows together', async () => {
    const c = fakeContainer();
    mkdirCgroup(path.dirname(c.dir));
    const server = http.createServer((_, res) => res.end('ok\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const seen = new Seen();
    const flows: FlowRecord[] = [];
    // Composed as the agent does when seccomp and network sessions share the node.
    const program = programFor(
      [{ type: 'seccomp' }, { type: 'network', inputs: [networkInputs.ip('127.0.0.1')] }],
      asStarted({ seeds: [], podPrefixes: [c.prefix] }),
      INTERVAL,
      dialect,
    );
    const run = new BpftraceRun(
      program,
      (e) => {
        seen.on(e);
        flows.push(...recordedBy<FlowRecord>('network', e));
      },
      { binary: BPFTRACE, ...parse },
    );
    runs.push(run);
    await run.start();
    const cg = mkdirCgroup(c.dir);
    const p = waiter(c.dir, '', `/usr/bin/busybox wget -q -O /dev/null http://127.0.0.1:${port}/`);
    await exited(p);
    await seen.settle();
    await run.stop();
    server.close();
    expect(p.exitCode).toBe(0);
    expect(seen.armed.has(cg)).toBe(true);
    expect(seen.exec.has(cg)).toBe(true);
    expect(seen.has(cg, SYS.connect)).toBe(true);
    expect(flows).toContainEqual(
      expect.objectContaining({
        cgroup: cg,
        direction: 'egress',
        proto: 'TCP',
        remoteIP: '127.0.0.1',
        remotePort: port,
      }),
    );
    expect(run.stderr).toBe('');
  });

  test('the capabilities part records, from the first exec: credentials, a set*id call, a capability check in its syscall, a write and a private read', async () => {
    const c = fakeContainer();
    mkdirCgroup(path.dirname(c.dir));
    // Seccomp and capabilities sessions on one node: the program the agent composes for both.
    const { run, seen, events } = await startKinds([{ type: 'seccomp' }, { type: 'capabilities' }], c.prefix);
    const cg = mkdirCgroup(c.dir);
    const file = `/tmp/harden-caps-${randomBytes(3).toString('hex')}`;
    // A relative write too, in a directory on the root filesystem (/var/tmp: /tmp may be a tmpfs).
    const rel = `harden-caps-rel-${randomBytes(3).toString('hex')}`;
    const p = waiter(
      c.dir,
      `touch ${file} && chown 65534 ${file} && cat /etc/shadow >/dev/null && rm ${file} && ` +
        `cd /var/tmp && touch ${rel} && rm ${rel} && /usr/bin/busybox su -s /bin/true nobody && ` +
        // A deep recursion grows the stack by page faults, each checking CAP_SYS_ADMIN for memory
        // accounting outside any syscall.
        `bash -c "f() { [ \\$1 -gt 0 ] && f \\$((\\$1 - 1)); }; f 2000; true"`,
    );
    await exited(p);
    await seen.settle();
    await run.stop();
    expect(p.exitCode).toBe(0);
    const mine = events.filter((e) => e.cgroup === cg);
    expect(mine).toContainEqual(expect.objectContaining({ kind: 'cred', uid: 0, euid: 0 }));
    expect(mine).toContainEqual(expect.objectContaining({ kind: 'cred', uid: 65534, euid: 65534 }));
    expect(mine).toContainEqual(expect.objectContaining({ kind: 'setid', args: [65534], result: 0 }));
    // CAP_CHOWN (0), granted, in chown/fchownat/lchown: a syscall number, not "none".
    expect(mine).toContainEqual(
      expect.objectContaining({ kind: 'check', cap: 0, granted: true, onBehalf: false }),
    );
    // The syscall each check ran in (the saved user registers where the dialect measured their
    // place, else a per-thread map from sys_enter to sys_exit): exactly a chown call.
    const chowns = Object.values(hostSyscalls('chown', 'fchownat', 'lchown', 'fchown'));
    const capChown = mine.filter((e) => e.kind === 'check' && e.cap === 0);
    expect(capChown.length).toBeGreaterThan(0);
    for (const e of capChown) expect(chowns).toContain(e.kind === 'check' ? e.nr : undefined);
    // A check in a page fault is in no syscall, not in the one the thread made last.
    expect(mine).toContainEqual(expect.objectContaining({ kind: 'check', cap: 21, nr: -1 }));
    const strays = mine.filter((e) => e.kind === 'check' && e.nr !== -1 && !isHostSyscall(e.nr));
    expect(strays).toEqual([]);
    expect(mine).toContainEqual(expect.objectContaining({ kind: 'write', path: file }));
    expect(mine).toContainEqual(
      expect.objectContaining({ kind: 'privateRead', path: '/etc/shadow', uid: 0 }),
    );
    // The relative one, spelled out from its directory's names as the agent's table does it.
    expect(tabledWrites(events, cg, c)).toContainEqual(
      expect.objectContaining({ path: `/var/tmp/${rel}`, rootfs: 'yes' }),
    );
    // What runc would do before the first exec is not the workload's: nothing before it is kept.
    expect(seen.exec.has(cg)).toBe(true);
    expect(run.stderr).toBe('');
  });

  test('a unix socket bound to a path is a write where the path lands; an abstract one and a failed bind are none', async () => {
    const c = fakeContainer();
    mkdirCgroup(path.dirname(c.dir));
    const { run, seen, events } = await startKinds([{ type: 'capabilities' }], c.prefix);
    const cg = mkdirCgroup(c.dir);
    const tag = randomBytes(3).toString('hex');
    // /var/tmp: on the root filesystem (/tmp may be a tmpfs); the relative one from its working directory.
    const abs = `/var/tmp/harden-${tag}.sock`;
    const rel = `harden-rel-${tag}.sock`;
    const py =
      `import os, socket; os.chdir("/var/tmp"); u = lambda: socket.socket(socket.AF_UNIX); ` +
      `a = u(); a.bind("${abs}"); r = u(); r.bind("${rel}"); n = u(); n.bind("\\0harden-${tag}"); ` +
      `f = u()\ntry: f.bind("/nonexistent-${tag}/x.sock")\nexcept OSError: pass\n` +
      `os.unlink("${abs}"); os.unlink("${rel}")`;
    const p = waiter(c.dir, '', `/usr/bin/python3 -c '${py}'`);
    await exited(p);
    await seen.settle();
    await run.stop();
    expect(p.exitCode).toBe(0);
    const [bind] = Object.values(hostSyscalls('bind'));
    const binds = events.filter((e) => e.cgroup === cg && e.kind === 'write' && e.nr === bind);
    // The absolute one is left to the pod's volume mounts, as mkdir's is; nothing for the other two.
    expect(binds).toHaveLength(2);
    expect(binds).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: abs, rootfs: 'unknown', dir: '0' }),
        expect.objectContaining({ path: rel, rootfs: 'yes' }),
      ]),
    );
    // The relative one is spelled out from its directory, as the agent's table does it.
    expect(tabledWrites(events, cg, c)).toContainEqual(
      expect.objectContaining({ syscall: 'bind', path: `/var/tmp/${rel}`, rootfs: 'yes' }),
    );
    expect(run.stderr).toBe('');
  });

  test('a bind below 1024 is recorded with the network namespace’s ip_unprivileged_port_start, read from the kernel', async () => {
    const c = fakeContainer();
    mkdirCgroup(path.dirname(c.dir));
    const { run, seen, events, lives } = await startKinds(
      [{ type: 'seccomp' }, { type: 'capabilities' }],
      c.prefix,
    );
    const cg = mkdirCgroup(c.dir);
    const p = waiter(
      c.dir,
      '',
      // Then its shutdown: a SIGTERM it handles, and its exit.
      `/usr/bin/python3 -c "import os, signal, socket, sys; s = socket.socket(); s.bind(('127.0.0.1', 81)); ` +
        `t = socket.socket(); t.bind(('127.0.0.1', 0)); signal.signal(signal.SIGTERM, lambda *a: sys.exit(3)); ` +
        `os.kill(os.getpid(), signal.SIGTERM)"`,
    );
    await exited(p);
    await seen.settle();
    await run.stop();
    expect(p.exitCode).toBe(3);
    // This test runs in the host's network namespace: the kernel's value is what its /proc/sys shows.
    const start = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
    const mine = events.filter((e) => e.cgroup === cg);
    expect(mine.filter((e) => e.kind === 'lowBind')).toEqual([
      expect.objectContaining({ kind: 'lowBind', port: 81, portStart: start, root: true }),
    ]);
    expect(mine).toContainEqual(expect.objectContaining({ kind: 'portStart', portStart: start }));
    // Its life: the SIGTERM it handled, and its entrypoint's exit status (code 3, no signal).
    expect(mine).toContainEqual(expect.objectContaining({ kind: 'life', what: 'stopSignal' }));
    expect(mine).toContainEqual(expect.objectContaining({ kind: 'life', what: 'exit', value: 3 << 8 }));
    // The seccomp recorder sees the same life.
    const life = lives.filter((x) => x.cgroup === cg).flatMap((x) => x.life ?? []);
    expect(life).toContainEqual(expect.objectContaining({ what: 'stopSignal' }));
    expect(life).toContainEqual(expect.objectContaining({ what: 'exit', value: 3 << 8 }));
    expect(run.stderr).toBe('');
  });

  test("a process exec'd into a running container (runc exec's init: joins, switches user, execs): its switch is the runtime's, the workload's own is not", async () => {
    const c = fakeContainer();
    mkdirCgroup(path.dirname(c.dir));
    const { run, seen, events } = await startKinds([{ type: 'capabilities' }], c.prefix);
    const cg = mkdirCgroup(c.dir);
    // The entrypoint; its child switches to nobody (65534) as the workload's own start-up would.
    const entry = waiter(c.dir, 'sleep 2; /usr/bin/busybox su -s /bin/true nobody; sleep 1');
    for (let i = 0; i < 50 && !seen.exec.has(cg); i++) await sleep(100);
    expect(seen.exec.has(cg)).toBe(true);
    // As runc exec's init does: a process started outside the container joins its mount namespace
    // and cgroup, switches from root to the image's user (here 12345) and execs the probe.
    const exe = spawn('nsenter', [
      `--target=${entry.pid}`,
      '--mount',
      '/usr/bin/python3',
      '-c',
      `import os; open("${c.dir}/cgroup.procs", "w").write(str(os.getpid())); ` +
        `os.setgroups([]); os.setgid(12345); os.setuid(12345); ` +
        `os.execv("/usr/bin/busybox", ["busybox", "true"])`,
    ]);
    children.push(exe);
    await Promise.all([exited(exe), exited(entry)]);
    await seen.settle();
    await run.stop();
    expect([exe.exitCode, entry.exitCode]).toEqual([0, 0]);
    const mine = events.filter((e) => e.cgroup === cg);
    const setids = mine.filter((e) => e.kind === 'setid');
    expect(setids).toContainEqual(expect.objectContaining({ args: [12345], result: 0, runtime: true }));
    expect(setids).toContainEqual(expect.objectContaining({ args: [65534], result: 0, runtime: false }));
    expect(setids.filter((e) => e.runtime).every((e) => e.args.includes(12345) || e.args.includes(0))).toBe(
      true,
    );
    // The exec'd program's credentials at its exec are its own; the runtime's checks are marked.
    expect(mine).toContainEqual(expect.objectContaining({ kind: 'cred', euid: 12345, runtime: false }));
    expect(mine).toContainEqual(
      expect.objectContaining({ kind: 'check', cap: 7, granted: true, runtime: true }),
    );
    expect(mine).toContainEqual(
      expect.objectContaining({ kind: 'check', cap: 7, granted: true, runtime: false }),
    );
    // One process exec'd into it from outside; the entrypoint's exit (status 0).
    expect(mine.filter((e) => e.kind === 'life' && e.what === 'execIn')).toEqual([
      expect.objectContaining({ count: 1 }),
    ]);
    expect(mine).toContainEqual(expect.objectContaining({ kind: 'life', what: 'exit', value: 0 }));
    expect(run.stderr).toBe('');
  });

  test("the runtime's exec of itself (runc 1.1's copy of its binary) starts nothing; the entrypoint's exec, in the container's mount namespace, does", async () => {
    const c = fakeContainer();
    mkdirCgroup(path.dirname(c.dir));
    const { run, seen, events } = await startKinds([{ type: 'seccomp' }, { type: 'capabilities' }], c.prefix);
    const cg = mkdirCgroup(c.dir);
    const tag = randomBytes(3).toString('hex');
    const file = `/tmp/harden-rt-${tag}`;
    fs.writeFileSync(file, '');
    // As runc 1.1's init: started outside, moved into the container's cgroup, it execs itself again
    // (here python) in the runtime's mount namespace, does privileged set-up there (a chown:
    // CAP_CHOWN; a mkdir), then enters a mount namespace of its own (unshare: CAP_SYS_ADMIN) and
    // execs the entrypoint.
    const setup =
      `import os; os.chown("${file}", 65534, -1); os.mkdir("${file}.d"); os.rmdir("${file}.d"); ` +
      `os.execv("/usr/bin/unshare", ["unshare", "-m", "/usr/bin/busybox", "sh", "-c", "sleep 0.3; exit 7"])`;
    const p = spawn(
      'sh',
      ['-c', `echo $$ > ${c.dir}/cgroup.procs && exec "$@"`, 'sh', '/usr/bin/python3', '-c', setup],
      { stdio: 'ignore' },
    );
    children.push(p);
    await exited(p);
    fs.rmSync(file);
    await seen.settle();
    await run.stop();
    expect(p.exitCode).toBe(7);
    // Recorded from the entrypoint's exec: its exit, none of the set-up before.
    expect(seen.exec.has(cg)).toBe(true);
    expect(seen.has(cg, SYS.exit_group)).toBe(true);
    const setupCalls = hostSyscalls('chown', 'fchownat', 'mkdir', 'mkdirat', 'unshare', 'mount');
    expect(Object.entries(setupCalls).filter(([, nr]) => seen.has(cg, nr))).toEqual([]);
    const mine = events.filter((e) => e.cgroup === cg);
    // No CAP_CHOWN; CAP_SYS_ADMIN is checked by any exec or allocation (memory accounting), not in unshare or mount.
    const inSetup = (nr: number) => nr === setupCalls.unshare || nr === setupCalls.mount;
    expect(mine.filter((e) => e.kind === 'check' && (e.cap === 0 || inSetup(e.nr)))).toEqual([]);
    expect(mine).toContainEqual(expect.objectContaining({ kind: 'cred', euid: 0, runtime: false }));
    // The entrypoint is the process whose exit is the container's: not one exec'd into it.
    expect(mine.filter((e) => e.kind === 'life' && e.what === 'execIn')).toEqual([]);
    expect(mine).toContainEqual(expect.objectContaining({ kind: 'life', what: 'exit', value: 7 << 8 }));
    expect(run.stderr).toBe('');
  });

  test("in a container recorded under its filter, what the runtime does for a process exec'd into it before its filter is not recorded; what follows the filter is", async () => {
    const c = fakeContainer();
    mkdirCgroup(path.dirname(c.dir));
    const seen = new Seen();
    const run = await start({ seeds: [], podPrefixes: [c.prefix] }, seen);
    const cg = mkdirCgroup(c.dir);
    const tag = `/tmp/harden-filtered-${randomBytes(3).toString('hex')}`;
    // A filter that allows everything, installed as runc installs the container's profile.
    const allowAll =
      'import ctypes, struct; libc = ctypes.CDLL(None); ' +
      'code = ctypes.create_string_buffer(struct.pack("HBBI", 6, 0, 0, 0x7fff0000)); ' +
      'prog = struct.pack("HxxxxxxP", 1, ctypes.addressof(code)); ' +
      'assert libc.prctl(22, 2, ctypes.c_char_p(prog), 0, 0) == 0';
    const join = `import os; open("${c.dir}/cgroup.procs", "w").write(str(os.getpid()))`;
    // The container's init in its own mount namespace: joins, installs the filter, execs the entrypoint.
    const entry = spawn(
      'unshare',
      ['-m', '/usr/bin/python3', '-c', `${join}; ${allowAll}; os.execv("/usr/bin/busybox", ["sleep", "3"])`],
      { stdio: 'ignore' },
    );
    children.push(entry);
    for (let i = 0; i < 50 && !seen.filter.has(cg); i++) await sleep(100);
    expect(seen.filter.has(cg)).toBe(true);
    // runc exec's init: joins the mount namespace and the cgroup, works (a mkdir) before it installs
    // the process's filter, then works under it (a symlink) and execs the process.
    const exe = spawn(
      'nsenter',
      [
        `--target=${entry.pid}`,
        '--mount',
        '/usr/bin/python3',
        '-c',
        `${join}; os.mkdir("${tag}.d"); os.rmdir("${tag}.d"); ${allowAll}; ` +
          `os.symlink("/", "${tag}.l"); os.unlink("${tag}.l"); os.execv("/usr/bin/busybox", ["true"])`,
      ],
      { stdio: 'ignore' },
    );
    children.push(exe);
    await Promise.all([exited(exe), exited(entry)]);
    await seen.settle();
    await run.stop();
    expect([exe.exitCode, entry.exitCode]).toEqual([0, 0]);
    const calls = hostSyscalls('mkdir', 'mkdirat', 'symlink', 'symlinkat');
    expect(seen.has(cg, calls.symlink, calls.symlinkat)).toBe(true);
    expect(seen.has(cg, calls.mkdir, calls.mkdirat)).toBe(false);
    expect(run.stderr).toBe('');
  });
});
