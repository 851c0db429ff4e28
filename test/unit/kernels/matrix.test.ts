// The kernel matrix's pure parts (scripts/kernels): the guest's records on the serial port, the
// program variants and predictions taken from the agent itself, cell verdicts and the table.
import type { KernelFacts } from '../../../lib/agent/core/kernel';
import { RECORDERS } from '../../../lib/agent/recorders';
import {
  BEGIN_MARK,
  cellText,
  END_MARK,
  expectationOf,
  jestReport,
  judge,
  needsOf,
  renderTable,
  replaceMarked,
  variants,
  type Cell,
  type Expectation,
} from '../../../scripts/kernels/cells';
import { decodeRecords, encodeRecord, type ProgramRecord } from '../../../scripts/kernels/protocol';

const CG = '4242';
const PATH =
  '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podX.slice/cri-containerd-x.scope';
const printf = (data: string) => JSON.stringify({ type: 'printf', data });
const map = (name: string, body: Record<string, number>) =>
  JSON.stringify({ type: 'map', data: { [name]: body } });
const armed = printf(`harden:armed ${CG} ${PATH}\n`);

function run(stdout: string[], over: Partial<ProgramRecord> = {}): ProgramRecord {
  return {
    type: 'program',
    id: 'seccomp/tracepoint',
    ready: true,
    loadS: 4.2,
    exit: 'signal SIGINT',
    timedOut: false,
    stdout: [printf('harden:ready\n'), ...stdout],
    stderr: '',
    cgroupId: CG,
    cgroupPath: PATH,
    workload: { code: 0, output: 'chown exec tcp udp\n' },
    ...over,
  };
}

// execve 59, chown 92, bind 49, connect 42, sendmsg 46, recvmsg 47 (amd64)
const allSyscalls = map('@sc1', Object.fromEntries([59, 92, 49, 42, 46, 47].map((n) => [`${CG},${n}`, 1])));
const served: Expectation = { served: true, chosen: true };
const unserved: Expectation = {
  served: false,
  chosen: false,
  why: 'tracepoint:capability:cap_capable (missing)',
};
const seccomp = { id: 'seccomp/tracepoint', kind: 'seccomp' as const, route: 'tracepoint' };
const caps = { id: 'capabilities/tracepoint', kind: 'capabilities' as const, route: 'tracepoint' };

describe('guest records', () => {
  test('survive the serial port: CRs, kernel messages and a cut-off record are skipped', () => {
    const r = run([allSyscalls]);
    const text = `[ 1.0] booting\r\n${encodeRecord(r).replace('\n', '\r\n')}KM H4sIAAAA\nKM not-base64!\n`;
    expect(decodeRecords(text)).toEqual([r]);
  });
});

describe('variants', () => {
  test('one program per recorder and amd64 route, arming the pod prefix its cgroup is made under', () => {
    const vs = variants(RECORDERS);
    const routes = RECORDERS.flatMap((r) =>
      r.routes.filter((x) => !x.arches || x.arches.includes('amd64')).map((x) => `${r.type}/${x.name}`),
    );
    expect(vs.map((v) => v.id)).toEqual(routes);
    for (const v of vs) {
      const prefix = `/${v.cgroupDir.split('/').slice(0, -1).join('/')}/`;
      expect(v.program.text).toContain(`"${prefix.slice(-63)}"] = 1;`);
      expect(v.program.text).toContain('config =');
      expect(v.cgroupDir).toMatch(/^kubepods\.slice\/.*\/cri-containerd-[0-9a-f]{64}\.scope$/);
    }
    expect(new Set(vs.map((v) => v.cgroupDir)).size).toBe(vs.length);
  });

  test('the needs asked in the guest are every probe of every route', () => {
    const { probes } = needsOf(RECORDERS);
    // The matrix runs the agent image's bpftrace (0.23): every syscall by the raw tracepoints.
    expect(probes).toContain('rawtracepoint:sys_enter');
    // Capability checks read their syscall from the saved user registers: nothing on every exit.
    expect(probes).not.toContain('rawtracepoint:sys_exit');
    expect(probes).toContain('tracepoint:capability:cap_capable');
  });
});

describe('predictions come from the agent route choice', () => {
  const facts = (missing: KernelFacts['missing']): KernelFacts => ({
    release: '6.1.0-57-amd64',
    btf: true,
    missing,
    members: { 'kernel_cap_t.val': false },
  });
  test('a kernel without the capabilities tracepoint (and kernel_cap_t.val) does not serve that route', () => {
    const e = expectationOf(
      RECORDERS,
      'capabilities',
      'tracepoint',
      facts({ 'tracepoint:capability:cap_capable': 'gone' }),
    );
    expect(e.served).toBe(false);
    expect(e.chosen).toBe(false);
    expect(e.why).toContain('tracepoint:capability:cap_capable (gone)');
    expect(e.why).toContain('kernel_cap_t.val');
    expect(expectationOf(RECORDERS, 'seccomp', 'tracepoint', facts({}))).toEqual({
      served: true,
      chosen: true,
    });
  });
  test('an unknown route is not served', () => {
    expect(expectationOf(RECORDERS, 'seccomp', 'nope', facts({})).served).toBe(false);
  });
});

describe('verdicts', () => {
  test('a served route that records what the workload did passes', () => {
    const c = judge(RECORDERS, 'k', seccomp, served, run([armed, allSyscalls]));
    expect(c).toMatchObject({ outcome: 'records', ok: true, loadS: 4.2 });
  });
  test('what is missing is named, and the new cgroup must have been armed', () => {
    const some = map('@sc0', { [`${CG},59`]: 1, [`${CG},92`]: 1 });
    const c = judge(RECORDERS, 'k', seccomp, served, run([some]));
    expect(c.ok).toBe(false);
    expect(c.detail).toContain('the new cgroup was not armed');
    expect(c.detail).toContain('no connect syscall');
    expect(c.detail).not.toContain('no chown');
  });
  test("another cgroup's syscalls do not count", () => {
    const other = allSyscalls.split(`${CG},`).join('7,');
    expect(judge(RECORDERS, 'k', seccomp, served, run([armed, other])).ok).toBe(false);
  });
  test('a route not served passes only by failing', () => {
    const failed = run([], {
      ready: false,
      exit: 'exit 1',
      stderr: 'stdin:12:1-40: ERROR: tracepoint not found: capability:cap_capable\n',
    });
    const c = judge(RECORDERS, 'k', caps, unserved, failed);
    expect(c).toMatchObject({
      outcome: 'fails',
      ok: true,
      detail: 'tracepoint not found: capability:cap_capable',
    });
    expect(judge(RECORDERS, 'k', caps, served, failed).ok).toBe(false);
    const recorded = judge(RECORDERS, 'k', seccomp, { ...unserved }, run([armed, allSyscalls]));
    expect(recorded).toMatchObject({ outcome: 'records', ok: false });
    expect(recorded.detail).toContain('the agent would not serve it');
  });
  test('a capability check filed under the wrong syscall fails the cell', () => {
    // [cgroup, cap, granted, onBehalf, nr]: CAP_CHOWN under getsockname (51), CAP_NET_BIND_SERVICE under bind
    const checks = map('@capc0', { [`${CG},0,1,0,51,0`]: 1, [`${CG},10,1,0,49,0`]: 1 });
    // [cgroup, uid, gid, euid, egid, cap_effective] at the exec; [cgroup, nr, rootfs, dir, path] of the chown
    const cred = map('@cred0', { [`${CG},0,0,0,0,2199023255551,0`]: 1 });
    const write = map('@wr1', { [`${CG},92,2,0,/tmp/matrix-chown`]: 1 });
    const c = judge(RECORDERS, 'k', caps, served, run([armed, checks, cred, write]));
    expect(c.ok).toBe(false);
    expect(c.detail).toBe('CAP_CHOWN filed under getsockname, not chown');
    const right = map('@capc1', { [`${CG},0,1,0,92,0`]: 1, [`${CG},10,1,0,49,0`]: 1 });
    expect(judge(RECORDERS, 'k', caps, served, run([armed, right, cred, write])).ok).toBe(true);
    expect(judge(RECORDERS, 'k', caps, served, run([armed, right, cred])).detail).toBe(
      'no chown of /tmp/matrix-chown among the writes',
    );
  });
  test('a broken workload or no run never passes', () => {
    const broken = run([armed, allSyscalls], { workload: { code: 1, output: 'failed after: chown' } });
    expect(judge(RECORDERS, 'k', seccomp, served, broken)).toMatchObject({ ok: false, outcome: 'not run' });
    const none = judge(RECORDERS, 'k', caps, unserved, undefined, 'could not fetch the kernel: 404');
    expect(none).toMatchObject({ ok: false, outcome: 'not run', detail: 'could not fetch the kernel: 404' });
  });
});

describe('report', () => {
  const cells: Cell[] = [
    {
      kernel: 'A',
      id: 'seccomp/tracepoint',
      kind: 'seccomp',
      route: 'tracepoint',
      expect: served,
      outcome: 'records',
      ok: true,
      detail: 'records',
      loadS: 6.4,
    },
    {
      kernel: 'A',
      id: 'capabilities/tracepoint',
      kind: 'capabilities',
      route: 'tracepoint',
      expect: unserved,
      outcome: 'fails',
      ok: true,
      detail: 'tracepoint not found | x',
    },
    {
      kernel: 'B',
      id: 'seccomp/tracepoint',
      kind: 'seccomp',
      route: 'tracepoint',
      outcome: 'not run',
      ok: false,
      detail: 'could not fetch the kernel',
    },
  ];
  test('the table has a row per kind and route, a column per kernel', () => {
    expect(renderTable(['A', 'B'], cells).split('\n')).toEqual([
      '| session kind | route | A | B |',
      '|---|---|---|---|',
      '| seccomp | tracepoint | ✔ records (6 s) **agent’s route** | ✘ FAILS: could not fetch the kernel |',
      '| capabilities | tracepoint | ✔ not served, fails as predicted: tracepoint not found \\| x |  |',
    ]);
    expect(
      cellText({ ...cells[0], detail: 'x'.repeat(300), ok: false, outcome: 'fails' }).length,
    ).toBeLessThan(200);
  });
  test('the README section between the markers is replaced, nothing else', () => {
    const readme = `intro\n${BEGIN_MARK}\nold\n${END_MARK}\nrest\n`;
    expect(replaceMarked(readme, 'new table\n')).toBe(`intro\n${BEGIN_MARK}\nnew table\n${END_MARK}\nrest\n`);
    expect(replaceMarked('no markers', 'x')).toBe('no markers');
  });
  test('the jest-style report counts each cell as a test', () => {
    const r = jestReport(cells);
    expect(r).toMatchObject({
      numPassedTests: 2,
      numFailedTests: 1,
      numRuntimeErrorTestSuites: 0,
      success: false,
    });
    expect(r.testResults[0].assertionResults[2]).toMatchObject({
      status: 'failed',
      failureMessages: ['could not fetch the kernel'],
    });
  });
});
