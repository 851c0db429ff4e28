/**
 * A stand-in world for the agent's controller: an in-memory API server that answers lists, streams
 * watch events and applies status like the real one (every write comes back as a MODIFIED event),
 * a cgroup tree in a temporary directory, and a bpftrace stand-in that prints what a real program
 * would for its seeded cgroups. Only the controller's logic is under test; the real pieces are
 * proven by the e2e suite.
 */
import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CgroupLayout, cgroupIdOf } from '../../../lib/agent/core/cgroups';
import { Controller } from '../../../lib/agent/core/controller';
import type { BpftraceError } from '../../../lib/agent/core/bpftrace-error';
import { DIALECTS } from '../../../lib/agent/core/dialect';
import type { KernelFacts } from '../../../lib/agent/core/kernel';
import { RECORDERS } from '../../../lib/agent/recorders';
import type { Kube } from '../../../lib/kube/client';
import type { KubeObject, Pod } from '../../../lib/kube/objects';
import { R, resourcePath, type ResourceRef } from '../../../lib/kube/paths';
import { eventually } from '../../support/eventually';
import { FakeCluster } from '../fake-cluster';
import { sessionPhase } from '../../../lib/session/phase';
import { traceRecord } from '../../../lib/session/trace-records';
import type { NodeRecord, TraceSession } from '../../../lib/session/types';

export const NODE = 'node-1';

/** A session's phase as every reader derives it from its nodes' records. */
export const phaseOf = (s: TraceSession | undefined) => s && sessionPhase(s);

/** A kernel with every probe and member the recorders ask for (as this machine's 6.18 has). */
export const EVERY_PROBE: KernelFacts = { release: '6.18.0-test', btf: true, missing: {}, members: {} };

/**
 * The node's view of the fake API server: pods and sessions come and go with watch events, and
 * status writes echo back to the agent's watch as they do from a real one.
 */
export class NodeApi {
  readonly cluster = new FakeCluster();
  readonly kube: Kube = this.cluster.kube('ns');

  constructor() {
    this.cluster.echoStatus = true;
  }

  /** Status bodies this node's agent wrote, in order. */
  get writes(): { status: NonNullable<TraceSession['status']> }[] {
    return this.cluster.statusWrites
      .filter((status) => !status.nodes?.some((n) => n.node !== NODE))
      .map((status) => ({ status }));
  }

  session(name: string): TraceSession | undefined {
    return this.cluster.session('ns', name);
  }

  /** Creates the object, or merge-patches it when it exists (a MODIFIED event). */
  private put(ref: ResourceRef, obj: KubeObject): Promise<unknown> {
    const path = resourcePath(ref, { namespace: 'ns', name: obj.metadata.name });
    if (this.cluster.objects.has(path)) return this.kube.mergePatch(path, obj);
    return this.kube.request('POST', resourcePath(ref, { namespace: 'ns' }), { body: obj });
  }

  putPod(p: Pod): Promise<unknown> {
    return this.put(R.pods, p);
  }

  putSession(s: TraceSession): Promise<unknown> {
    return this.put(R.tracesessions, s);
  }

  deletePod(uid: string): Promise<unknown> {
    const [path] = [...this.cluster.objects].find(([, o]) => o.metadata.uid === uid) ?? [];
    return this.kube.request('DELETE', path ?? '');
  }

  /** Another node's agent, tracing the session too, writes its own record. */
  otherNodeWrites(name: string): Promise<unknown> {
    const other: NodeRecord = {
      node: 'node-2',
      arch: 'amd64',
      agentVersion: 'x',
      lastFlush: new Date().toISOString(),
      final: false,
      phase: 'Tracing',
      containers: [],
    };
    const session = this.cluster.session('ns', name);
    if (!session) throw new Error(`no session ${name}`);
    const record = traceRecord(session, other);
    return this.kube.apply(
      resourcePath(R.tracerecords, { namespace: 'ns', name: record.metadata.name }),
      record,
    );
  }
}

/** A bpftrace stand-in: prints ready, then every 50 ms the configured syscalls for each seeded cgroup. */
const FAKE_BPFTRACE = `#!/usr/bin/env node
const fs = require('fs');
const path = require('path');
const dir = process.env.FAKE_BPFTRACE_DIR;
if (fs.existsSync(path.join(dir, 'broken'))) { process.stderr.write('ERROR: broken\\n'); process.exit(1); }
// The program file, after bpftrace's options and before its positional parameters.
const text = fs.readFileSync(process.argv.slice(2).find((a) => a.endsWith('.bt')), 'utf8');
const seeds = [...text.matchAll(/@targets\\[\\(uint64\\)(\\d+)\\] = 1;/g)].map((m) => m[1]);
const probes = [...text.matchAll(/^([a-z]+:[^ \\n]+) /gm)].map((m) => m[1]);
fs.appendFileSync(path.join(dir, 'runs'), JSON.stringify({ pid: process.pid, seeds, probes }) + '\\n');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const nrs = () => fs.readFileSync(path.join(dir, 'syscalls'), 'utf8').split(',').filter(Boolean);
const print = () => {
  const m = {};
  for (const s of [...seeds, ...ids]) for (const n of nrs()) m[s + ',' + n] = 1;
  out({ type: 'map', data: { '@sc0': m } });
  // With a 'full' file, this interval's map overflowed (once, as the program says it once).
  if (fs.existsSync(path.join(dir, 'full'))) {
    fs.rmSync(path.join(dir, 'full'));
    out({ type: 'printf', data: 'harden:full syscalls\\n' });
  }
  // With a 'lost' file, bpftrace's output buffer overflowed (once).
  if (fs.existsSync(path.join(dir, 'lost'))) {
    fs.rmSync(path.join(dir, 'lost'));
    out({ type: 'lost_events', data: { events: 5 } });
  }
  // With a 'creds' file, every cgroup also reports its exec as uid/gid 0 (a capabilities event),
  // once, as bpftrace prints a map entry once and clears it.
  if (fs.existsSync(path.join(dir, 'creds'))) {
    const c = {};
    for (const s of [...seeds, ...ids]) if (!credsSent.has(s)) { credsSent.add(s); c[s + ',0,0,0,0,0,0'] = 1; }
    if (Object.keys(c).length) out({ type: 'map', data: { '@cred0': c } });
  }
  out({ type: 'printf', data: 'harden:tick\\n' });
};
const credsSent = new Set();
// Cgroups created before this program attached are not its to arm.
const lines = () => (fs.existsSync(path.join(dir, 'arm')) ? fs.readFileSync(path.join(dir, 'arm'), 'utf8') : '').split('\\n').filter(Boolean);
const armed = new Set();
const ids = [];
const arm = () => {
  for (const line of lines()) {
    if (armed.has(line)) continue;
    armed.add(line);
    ids.push(line.split(' ')[0]);
    out({ type: 'printf', data: 'harden:armed ' + line.split(' ')[0] + ' ' + line.split(' ')[1] + '\\n' });
  }
};
const delay = Number(fs.existsSync(path.join(dir, 'delay')) ? fs.readFileSync(path.join(dir, 'delay'), 'utf8') : 0);
let timer;
setTimeout(() => {
  for (const line of lines()) armed.add(line);
  out({ type: 'printf', data: 'harden:ready\\n' });
  timer = setInterval(() => { arm(); print(); }, 50);
}, delay);
process.on('SIGINT', () => { clearInterval(timer); print(); process.exit(0); });
`;

export interface World {
  fake: NodeApi;
  controller: Controller;
  dir: string;
  layout: CgroupLayout;
  /** The syscall numbers every seeded cgroup "makes" from now on. */
  setSyscalls(nrs: number[]): void;
  /** The stand-ins report these cgroups created (cgroup_mkdir) from now on, as "id path" lines. */
  arm(lines: string[]): void;
  /** Every cgroup also reports its exec's credentials (uid 0), once: a capabilities event. */
  reportCredentials(): void;
  /** The running stand-in's next print says its syscall map overflowed in that interval. */
  overflowMap(): void;
  /** The running stand-in's next print says bpftrace lost output events. */
  loseOutput(): void;
  /** The stand-ins take this long to attach from now on. */
  setAttachDelay(ms: number): void;
  /** From now on the bpftrace stand-in fails at once, as bpftrace does on a bad program. */
  breakBpftrace(): void;
  /** Every bpftrace stand-in started so far: its pid, the cgroup ids it was seeded with, its program's probes. */
  runs(): { pid: number; seeds: string[]; probes: string[] }[];
  /** The agent restarts on the same node (maybe on another kernel): a new controller, started. */
  restart(opts?: Pick<WorldOptions, 'kernel' | 'arch'>): Promise<void>;
  close(): Promise<void>;
}

export interface WorldOptions {
  flushMs?: number;
  intervalMs?: number;
  /** The node's kernel as the agent probed it (default: one with everything). */
  kernel?: KernelFacts;
  arch?: string;
  /** Why the node's bpftrace cannot be used (as the agent's probe found it). */
  bpftraceProblem?: BpftraceError;
}

export function makeWorld(opts: WorldOptions = {}): World {
  const dir = mkdtempSync(join(tmpdir(), 'harden-agent-test-'));
  const binary = join(dir, 'bpftrace');
  writeFileSync(binary, FAKE_BPFTRACE);
  chmodSync(binary, 0o755);
  writeFileSync(join(dir, 'syscalls'), '');
  writeFileSync(join(dir, 'runs'), '');
  mkdirSync(join(dir, 'cgroup', 'kubepods'), { recursive: true });
  process.env.FAKE_BPFTRACE_DIR = dir;
  const fake = new NodeApi();
  const layout = new CgroupLayout({ mountPoint: join(dir, 'cgroup'), root: '/' }, 'cgroupfs');
  const agent = (o: WorldOptions) =>
    new Controller(fake.kube, {
      node: NODE,
      arch: o.arch ?? 'amd64',
      recorders: RECORDERS,
      kernel: o.kernel ?? EVERY_PROBE,
      layout,
      flushMs: o.flushMs ?? 100,
      intervalMs: o.intervalMs ?? 100,
      log: process.env.AGENT_LOG ? (m) => process.stderr.write(`${m}\n`) : () => undefined,
      bpftrace: o.bpftraceProblem
        ? { binary, version: 'fake', problem: o.bpftraceProblem }
        : { binary, version: 'fake', dialect: DIALECTS[0] },
    });
  const world: World = {
    fake,
    controller: agent(opts),
    dir,
    layout,
    arm: (lines) => appendFileSync(join(dir, 'arm'), lines.map((l) => `${l}\n`).join('')),
    reportCredentials: () => writeFileSync(join(dir, 'creds'), ''),
    overflowMap: () => writeFileSync(join(dir, 'full'), ''),
    loseOutput: () => writeFileSync(join(dir, 'lost'), ''),
    setAttachDelay: (ms) => writeFileSync(join(dir, 'delay'), String(ms)),
    breakBpftrace: () => writeFileSync(join(dir, 'broken'), ''),
    setSyscalls: (nrs) => writeFileSync(join(dir, 'syscalls'), nrs.join(',')),
    runs: () =>
      readFileSync(join(dir, 'runs'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { pid: number; seeds: string[]; probes: string[] }),
    restart: async (o = {}) => {
      await world.controller.close();
      world.controller = agent({ ...opts, ...o });
      await world.controller.start();
    },
    close: async () => {
      await world.controller.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}

let seq = 0;

/** A running pod on the node with one container, its cgroup directory made in the fake tree. */
export function runningPod(w: World, name: string, labels: Record<string, string> = {}): Pod {
  seq++;
  const uid = `00000000-0000-0000-0000-${String(seq).padStart(12, '0')}`;
  const id = String(seq).padStart(64, 'a');
  const pod: Pod = {
    metadata: { name, namespace: 'ns', uid, labels },
    spec: { nodeName: NODE, containers: [{ name: 'main' }] },
    status: {
      phase: 'Running',
      qosClass: 'BestEffort',
      containerStatuses: [{ name: 'main', containerID: `containerd://${id}`, state: { running: {} } }],
    },
  };
  mkdirSync(containerDirOf(w, pod), { recursive: true });
  return pod;
}

export function containerDirOf(w: World, pod: Pod): string {
  return w.layout.containerDir(
    'BestEffort',
    pod.metadata.uid!,
    pod.status!.containerStatuses![0].containerID!,
  )!;
}

/** The pod as the API shows it before its container runs (kubelet has not reported it yet). */
export function notYetRunning(pod: Pod): Pod {
  return { ...pod, status: { phase: 'Pending', qosClass: 'BestEffort' } };
}

/** The stand-in's cgroup_mkdir line for a pod's container: its cgroup id and hierarchy path. */
export function mkdirLine(w: World, pod: Pod): string {
  const dir = containerDirOf(w, pod);
  return `${cgroupIdOf(dir)} /${relative(w.layout.mount.mountPoint, dir)}`;
}

export function session(name: string, target: TraceSession['spec']['target']): TraceSession {
  return {
    apiVersion: 'harden.dev/v1alpha1',
    kind: 'TraceSession',
    metadata: { name, namespace: 'ns' },
    spec: { type: 'seccomp', state: 'Running', target },
  };
}

/** This node's entry in a session's status, as last written. */
export function entryOf(w: World, name: string): NodeRecord | undefined {
  return w.fake.session(name)?.status?.nodes?.find((n) => n.node === NODE);
}

/** Starts the controller on the world as it is, and waits until the session is traced. */
export async function startTracing(w: World, name: string): Promise<void> {
  await w.controller.start();
  await soon(
    'tracing',
    () => phaseOf(w.fake.session(name)),
    (p) => p === 'Tracing',
  );
}

/** What `seccomp stop` does: the session's spec says Stopped. */
export function stopSession(w: World, name: string): void {
  void w.fake.putSession({
    ...w.fake.session(name)!,
    spec: { ...w.fake.session(name)!.spec, state: 'Stopped' },
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The shared eventually(), polling fast: the fake world changes within milliseconds. */
export function soon<T>(what: string, get: () => T, ok: (v: T) => boolean): Promise<T> {
  return eventually(async () => get(), ok, { what, everyMs: 20, withinMs: 8000 });
}
