/**
 * The kernel matrix's pure parts: the program variants the agent generates (every recorder × route,
 * assembled the way the agent assembles them, targets armed by a pod's cgroup prefix), what the
 * agent's own probing and route choice predict for a kernel, the verdict on each cell (did the
 * program load and attach, and did the recorder's own parser find what the workload did), and the
 * table, README section and jest-style report written from the cells.
 */
import { assembleProgram } from '../../lib/agent/core/assemble';
import { CgroupLayout, containerCgroupDir } from '../../lib/agent/core/cgroups';
import { DIALECTS, type Dialect } from '../../lib/agent/core/dialect';
import type { KernelFacts } from '../../lib/agent/core/kernel';
import { isNoise, OutputReader, type TraceEvent } from '../../lib/agent/core/output';
import { planTargets } from '../../lib/agent/core/plan';
import type { Program } from '../../lib/agent/core/program';
import type { Attributed, PlannedSession, Recorder } from '../../lib/agent/core/recorder';
import { chooseRoutes, kernelNeeds, type NodeTraits } from '../../lib/agent/core/support';
import type { FlowRecord } from '../../lib/agent/recorders/network/parse';
import type { PrivilegeEvent } from '../../lib/agent/recorders/privileges/parse';
import type { SyscallEvent } from '../../lib/agent/recorders/syscalls/parse';
import type { Pod } from '../../lib/kube/objects';
import { syscallName } from '../../lib/seccomp/names';
import type { SessionType } from '../../lib/session/types';
import { CHOWN_PATH, POD_IP, TCP_PORT, UDP_PORT, type ProgramRecord } from './protocol';

/** Debian's kernels, oldest first: each suite's linux-image-amd64 is resolved to its newest ABI. */
export const KERNELS: readonly { suite: string; debian: string }[] = [
  { suite: 'bullseye-security', debian: 'Debian 11' },
  { suite: 'bookworm-security', debian: 'Debian 12' },
  { suite: 'trixie-security', debian: 'Debian 13' },
  { suite: 'trixie-backports', debian: 'Debian 13 backports' },
];

export const ARCH = 'amd64';
/**
 * The image's dialect as the agent's probe returns it where it measured userRegs (every kernel
 * here has the raw sys_enter tracepoint): the text is the same whatever the value, which each
 * guest measures and passes itself (guest.ts), as the agent passes its node's.
 */
export const DIALECT: Dialect = { ...(DIALECTS.find((d) => d.series === '0.23') as Dialect), userRegs: 0 };
export const INTERVAL_MS = 1000;
export const traits: NodeTraits = { node: 'matrix-vm', arch: ARCH, dialect: DIALECT };

const POD_UID = '6d61a7e1-0000-4000-8000-6b65726e656c';
const NAMESPACE = 'matrix';
const layout = new CgroupLayout({ mountPoint: '/sys/fs/cgroup', root: '/' }, 'systemd');
export const workloadPod: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'workload', namespace: NAMESPACE, uid: POD_UID },
  spec: { containers: [{ name: 'workload' }] },
  status: { podIP: POD_IP, podIPs: [{ ip: POD_IP }], qosClass: 'BestEffort' },
} as Pod;

export interface Variant {
  /** "<kind>/<route>" */
  id: string;
  kind: SessionType;
  route: string;
  program: Program;
  /** The workload container's cgroup, relative to the mount. */
  cgroupDir: string;
}

const hex64 = (s: string) => Buffer.from(s.padEnd(32, '.').slice(0, 32)).toString('hex').slice(0, 64);

/**
 * One program per recorder and route, as a node whose only session is one of that kind on the
 * workload pod gets it: planned by the agent's planner, assembled by its assembler.
 */
export function variants(recorders: readonly Recorder[]): Variant[] {
  return recorders.flatMap((recorder) =>
    recorder.routes
      .filter((r) => !r.arches || r.arches.includes(ARCH))
      .map((route) => {
        const session: PlannedSession = {
          metadata: { name: `matrix-${recorder.type}`, namespace: NAMESPACE },
          spec: { type: recorder.type, target: { podName: 'workload' }, state: 'Running' },
        };
        const { targets } = planTargets({
          sessions: [session],
          recorders: [recorder],
          pods: new Map([[POD_UID, workloadPod]]),
          cgroups: new Map(),
          layout,
          cgroupIdOf: () => undefined,
        });
        // With a newest cgroup id, as the agent starts a program: its text reads it as $2, which
        // each guest reads itself as it starts the program (guest.ts).
        const program = assembleProgram(
          { ...targets, newerThan: '0' },
          {
            intervalMs: INTERVAL_MS,
            dialect: DIALECT,
            arch: ARCH,
            routes: [{ recorder, route }],
          },
        );
        const id = `${recorder.type}/${route.name}`;
        const cgroupDir = containerCgroupDir('systemd', 'BestEffort', POD_UID, `containerd://${hex64(id)}`);
        return { id, kind: recorder.type, route: route.name, program, cgroupDir: cgroupDir as string };
      }),
  );
}

export function needsOf(recorders: readonly Recorder[]) {
  const n = kernelNeeds(recorders, traits);
  return { probes: [...n.probes].sort(), members: n.members };
}

export interface Expectation {
  /** The kernel serves the route (its probes attach, its struct members exist): it must record. */
  served: boolean;
  /** The route the agent picks for the kind on this kernel. */
  chosen: boolean;
  /** Why the agent would not serve the route here. */
  why?: string;
}

/** The agent's own route choice, applied to one route at a time and to all of the kind's routes. */
export function expectationOf(
  recorders: readonly Recorder[],
  kind: SessionType,
  route: string,
  facts: KernelFacts,
): Expectation {
  const recorder = recorders.find((r) => r.type === kind);
  const r = recorder?.routes.find((x) => x.name === route);
  if (!recorder || !r) return { served: false, chosen: false, why: `no ${kind} route ${route}` };
  const alone = chooseRoutes([{ ...recorder, routes: [r] } as Recorder], facts, traits).get(kind);
  const chosen = chooseRoutes([recorder], facts, traits).get(kind)?.route?.name === route;
  if (alone?.route) return { served: true, chosen };
  const why = alone && 'message' in alone ? alone.message.replace(/^.*? sessions: /, '') : 'not served';
  return { served: false, chosen, why };
}

const byCgroup = <E extends Attributed>(events: readonly E[], cgroup: string | undefined) =>
  events.filter((e) => e.cgroup === cgroup);

const names = (nrs: Iterable<number>) =>
  [...nrs].map((n) => {
    try {
      return syscallName(ARCH, n);
    } catch {
      return `syscall ${n}`;
    }
  });

const CHOWN = ['chown', 'fchownat', 'lchown', 'fchown'];
const SEND = ['sendto', 'sendmsg', 'sendmmsg'];
const RECV = ['recvfrom', 'recvmsg', 'recvmmsg'];
/** What the guest's runtime stand-in does before the entrypoint's exec (./guest): never the workload's. */
const RUNTIME_SETUP = ['unshare', 'mount'];

/** What each kind's records must hold of the workload; each check → what is missing. */
const CHECKS: Partial<Record<SessionType, (events: Attributed[], cgroup: string | undefined) => string[]>> = {
  seccomp: (events, cgroup) => {
    const seen = new Set(names(byCgroup(events as SyscallEvent[], cgroup).flatMap((e) => e.nrs)));
    const want: [string, string[]][] = [
      ['execve', ['execve']],
      ['chown', CHOWN],
      ['bind', ['bind']],
      ['connect', ['connect']],
      ['a UDP send', SEND],
      ['a UDP receive', RECV],
    ];
    const missing = want
      .filter(([, any]) => !any.some((n) => seen.has(n)))
      .map(([what]) => `no ${what} syscall`);
    return [
      ...missing,
      ...RUNTIME_SETUP.filter((n) => seen.has(n)).map((n) => `the runtime's ${n} recorded`),
    ];
  },
  network: (events, cgroup) => {
    const flows = events as FlowRecord[];
    const has = (f: (r: FlowRecord) => boolean) => flows.some(f);
    const out: string[] = [];
    if (
      !has(
        (r) =>
          r.cgroup === cgroup &&
          r.proto === 'TCP' &&
          r.direction === 'egress' &&
          r.remoteIP === POD_IP &&
          r.remotePort === TCP_PORT,
      )
    )
      out.push(`no TCP egress to ${POD_IP}:${TCP_PORT}`);
    if (
      !has(
        (r) =>
          r.proto === 'TCP' && r.direction === 'ingress' && r.localIP === POD_IP && r.localPort === TCP_PORT,
      )
    )
      out.push(`no TCP ingress on ${POD_IP}:${TCP_PORT}`);
    if (
      !has(
        (r) =>
          r.cgroup === cgroup &&
          r.proto === 'UDP' &&
          r.direction === 'egress' &&
          r.remoteIP === POD_IP &&
          r.remotePort === UDP_PORT,
      )
    )
      out.push(`no UDP egress to ${POD_IP}:${UDP_PORT}`);
    if (
      !has(
        (r) =>
          r.cgroup === cgroup && r.proto === 'UDP' && r.direction === 'ingress' && r.localPort === UDP_PORT,
      )
    )
      out.push(`no UDP ingress on port ${UDP_PORT}`);
    return out;
  },
  capabilities: (events, cgroup) => {
    const mine = byCgroup(events as PrivilegeEvent[], cgroup);
    const out: string[] = [];
    const capCheck = (cap: number, capName: string, calls: string[]) => {
      const checks = mine.flatMap((e) => (e.kind === 'check' && e.cap === cap && e.granted ? [e] : []));
      const where = names(checks.map((c) => c.nr));
      if (!checks.length) out.push(`no granted ${capName} check`);
      else if (!where.some((n) => calls.includes(n)))
        out.push(`${capName} filed under ${[...new Set(where)].join(', ')}, not ${calls[0]}`);
    };
    capCheck(0, 'CAP_CHOWN', CHOWN);
    const setup = mine.flatMap((e) =>
      e.kind === 'check' && RUNTIME_SETUP.includes(names([e.nr])[0]) ? [e] : [],
    );
    if (setup.length) out.push(`the runtime's ${names(setup.map((e) => e.nr)).join(', ')} checks recorded`);
    capCheck(10, 'CAP_NET_BIND_SERVICE', ['bind']);
    // Credentials are recorded at every exec (an exec's own record only when it gains privileges).
    if (!mine.some((e) => e.kind === 'cred' && e.euid === 0)) out.push('no credentials recorded at the exec');
    const chownWrite = mine.some(
      (e) => e.kind === 'write' && e.path === CHOWN_PATH && CHOWN.includes(names([e.nr])[0]),
    );
    if (!chownWrite) out.push(`no chown of ${CHOWN_PATH} among the writes`);
    return out;
  },
};

/** bpftrace's reason for failing, in one line. */
export function failureLine(run: ProgramRecord): string {
  const lines = run.stderr.split('\n').filter((l) => !isNoise(l));
  const line = lines.find((l) => /ERROR/.test(l)) ?? lines[lines.length - 1] ?? run.exit;
  return line.trim().replace(/^.*?ERROR:\s*/, '');
}

export type Outcome = 'records' | 'fails' | 'not run';

export interface Cell {
  kernel: string;
  id: string;
  kind: SessionType;
  route: string;
  expect?: Expectation;
  outcome: Outcome;
  /** The cell passes: it recorded where served, failed where not. */
  ok: boolean;
  detail: string;
  loadS?: number;
}

/** What the run's output, read by the recorders' own parser, holds; undefined when it holds everything. */
export function missingFrom(recorders: readonly Recorder[], kind: SessionType, run: ProgramRecord): string[] {
  const reader = new OutputReader(recorders);
  const events: TraceEvent[] = run.stdout.flatMap((l) => reader.parse(l));
  const out: string[] = [];
  if (!events.some((e) => e.kind === 'armed' && e.cgroup === run.cgroupId && e.path === run.cgroupPath))
    out.push('the new cgroup was not armed');
  const recorded = events.flatMap((e) => (e.kind === 'recorded' && e.recorder === kind ? e.events : []));
  const check = CHECKS[kind];
  return check
    ? [...out, ...check(recorded, run.cgroupId)]
    : [...out, `the matrix has no check of ${kind} records`];
}

export function judge(
  recorders: readonly Recorder[],
  kernel: string,
  v: Pick<Variant, 'id' | 'kind' | 'route'>,
  expect: Expectation | undefined,
  run: ProgramRecord | undefined,
  notRun = 'not run',
): Cell {
  const base = { kernel, id: v.id, kind: v.kind, route: v.route, expect };
  if (!run) return { ...base, outcome: 'not run', ok: false, detail: notRun };
  const loadS = run.loadS;
  if (!run.ready) {
    const detail = failureLine(run);
    return { ...base, loadS, outcome: 'fails', ok: expect?.served === false, detail };
  }
  if (run.workload?.code !== 0) {
    const detail = `the workload failed (${run.workload?.output.trim() || `exit ${run.workload?.code}`})`;
    return { ...base, loadS, outcome: 'not run', ok: false, detail };
  }
  const missing = missingFrom(recorders, v.kind, run);
  if (missing.length)
    return { ...base, loadS, outcome: 'fails', ok: expect?.served === false, detail: missing.join('; ') };
  return {
    ...base,
    loadS,
    outcome: 'records',
    ok: expect?.served === true,
    detail:
      expect?.served === false ? `records, though the agent would not serve it: ${expect.why}` : 'records',
  };
}

/** One cell's text in the README's table. */
export function cellText(c: Cell): string {
  const mark = c.ok ? '✔' : '✘';
  const secs = c.loadS !== undefined ? ` (${Math.round(c.loadS)} s)` : '';
  const chosen = c.expect?.chosen ? ' **agent\u2019s route**' : '';
  let text: string;
  if (c.ok && c.outcome === 'records') text = `records${secs}`;
  else if (c.ok) text = `not served, fails as predicted: ${c.detail}`;
  else if (c.expect?.served === false && c.outcome === 'records') text = c.detail;
  else text = `${c.outcome === 'records' ? '' : 'FAILS: '}${c.detail}${secs}`;
  const short = text.length > 160 ? `${text.slice(0, 157)}…` : text;
  return `${mark} ${short}${chosen}`.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** kernel columns × (kind, route) rows. */
export function renderTable(kernels: readonly string[], cells: readonly Cell[]): string {
  const rows = [...new Map(cells.map((c) => [c.id, c])).values()];
  const head = `| session kind | route | ${kernels.join(' | ')} |`;
  const rule = `|---|---|${kernels.map(() => '---').join('|')}|`;
  const body = rows.map((r) => {
    const cols = kernels.map((k) => {
      const c = cells.find((x) => x.kernel === k && x.id === r.id);
      return c ? cellText(c) : '';
    });
    return `| ${r.kind} | ${r.route} | ${cols.join(' | ')} |`;
  });
  return [head, rule, ...body].join('\n');
}

export const BEGIN_MARK = '<!-- kernel-matrix:begin (written by scripts/kernels/matrix) -->';
export const END_MARK = '<!-- kernel-matrix:end -->';

/** The README with the text between the markers replaced; unchanged when the markers are missing. */
export function replaceMarked(readme: string, section: string): string {
  const a = readme.indexOf(BEGIN_MARK);
  const b = readme.indexOf(END_MARK);
  if (a < 0 || b < a) return readme;
  return `${readme.slice(0, a + BEGIN_MARK.length)}\n${section.trim()}\n${readme.slice(b)}`;
}

/** The counts and results `scripts/test` reads, in jest's --json shape. */
export function jestReport(cells: readonly Cell[]) {
  const passed = cells.filter((c) => c.ok).length;
  return {
    numPassedTests: passed,
    numFailedTests: cells.length - passed,
    numRuntimeErrorTestSuites: 0,
    numTotalTests: cells.length,
    success: passed === cells.length,
    testResults: [
      {
        name: 'scripts/kernels/matrix',
        assertionResults: cells.map((c) => ({
          fullName: `kernel matrix ${c.kernel} ${c.kind} ${c.route}`,
          status: c.ok ? 'passed' : 'failed',
          failureMessages: c.ok ? [] : [c.detail],
        })),
      },
    ],
  };
}
