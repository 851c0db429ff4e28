import { DIALECTS, type Dialect } from '../../../../../lib/agent/core/dialect';
import { ptonLiteral } from '../../../../../lib/agent/recorders/network/program';
import { LITERAL_MAX, type ProgramTargets } from '../../../../../lib/agent/core/program';
import { networkOnlyProgram } from '../../../../support/programs';
import { expectGolden } from '../../../golden';

const prefix =
  '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0000000_0000_0000_0000_000000000000.slice/';
const targets = {
  seeds: [
    { id: '329', recording: true },
    { id: '330', recording: false },
  ],
  podPrefixes: [prefix],
  podIPs: ['10.244.1.7', 'fd00:10:244:1::7', '10.244.1.7', '64:ff9b::10.0.0.1'],
};

const networkProgram = (t: ProgramTargets & { podIPs: string[] }, intervalMs: number, dialect: Dialect) =>
  networkOnlyProgram(t, t.podIPs, intervalMs, dialect);

const [v017, v023] = DIALECTS;

describe('network program', () => {
  test.each(DIALECTS)('targets, pod IPs and interval make the program text ($series)', (dialect) => {
    const p = networkProgram(targets, 3000, dialect);
    expectGolden(`agent-net/net-program-${dialect.series}.bt`, p.text);
  });

  test.each(DIALECTS)('the socket is read through a typed fdtable entry ($series)', (dialect) => {
    // 0.23 finds no `private_data` through the entry's own type: every read casts it.
    const text = networkProgram(targets, 1000, dialect).text;
    const reads = text.split('\n').filter((l) => l.includes('curtask->files->fdt->fd'));
    // 4 sends by the call's fd; 3 receive exits by the fd their sys_enter kept.
    expect(reads.length).toBe(7);
    for (const l of reads)
      expect(l.trim()).toMatch(
        /^\$file = \(struct file \*\)\*\(curtask->files->fdt->fd \+ (args->fd|@urfd\[tid\])\);$/,
      );
  });

  test('every syscall probe is guarded by one map lookup on the cgroup', () => {
    const text = networkProgram(targets, 1000, v017).text;
    const heads = text.split('\n').filter((l) => l.startsWith('tracepoint:syscalls:'));
    expect(heads.map((h) => h.replace(/^tracepoint:syscalls:(\w+) /, ''))).toEqual(
      Array(10).fill('/@targets[cgroup]/ {'),
    );
    expect(heads.map((h) => h.split(' ')[0])).toEqual([
      'tracepoint:syscalls:sys_enter_connect',
      'tracepoint:syscalls:sys_enter_sendto',
      'tracepoint:syscalls:sys_enter_sendmsg',
      'tracepoint:syscalls:sys_enter_sendmmsg',
      'tracepoint:syscalls:sys_enter_recvfrom',
      'tracepoint:syscalls:sys_exit_recvfrom',
      'tracepoint:syscalls:sys_enter_recvmsg',
      'tracepoint:syscalls:sys_exit_recvmsg',
      'tracepoint:syscalls:sys_enter_recvmmsg',
      'tracepoint:syscalls:sys_exit_recvmmsg',
    ]);
  });

  test.each(DIALECTS)('the seccomp parts that record syscalls are not carried along ($series)', (dialect) => {
    const text = networkProgram(targets, 1000, dialect).text;
    expect(text).not.toMatch(/raw_syscalls|sys_exit_seccomp|sched_process_exec|@rec|@sc0/);
    expect(text).toMatch(/^(tracepoint:cgroup:|rawtracepoint:)cgroup_mkdir /m);
  });

  test('no string literal exceeds what bpftrace 0.17 accepts', () => {
    for (const m of networkProgram(targets, 1000, v017).text.matchAll(/"([^"]*)"/g)) {
      expect(m[1].length).toBeLessThanOrEqual(LITERAL_MAX);
    }
  });

  test('addresses become the 16 bytes the tracepoint carries, in a form pton() takes', () => {
    expect(ptonLiteral('10.250.0.1')).toBe('::ffff:afa:1');
    expect(ptonLiteral('192.168.255.254')).toBe('::ffff:c0a8:fffe');
    expect(ptonLiteral('FD00:250:0:0::1')).toBe('fd00:250::1');
    expect(ptonLiteral('::ffff:10.250.0.1')).toBe('::ffff:afa:1');
  });

  test('unsafe input is refused rather than spliced into the program', () => {
    const base = { seeds: [], podPrefixes: [] };
    expect(() => networkProgram({ ...base, podIPs: ['10.0.0.1") ; exit(); ("'] }, 1000, v023)).toThrow();
    expect(() => networkProgram({ ...base, podIPs: ['fe80::1%eth0'] }, 1000, v017)).toThrow();
    expect(() => networkProgram({ ...base, podIPs: ['10.0.0.256'] }, 1000, v017)).toThrow();
    expect(() =>
      networkProgram(
        { seeds: [{ id: '1; exit()', recording: true }], podPrefixes: [], podIPs: [] },
        1000,
        v023,
      ),
    ).toThrow();
    expect(() => networkProgram({ ...base, podIPs: [] }, 10, v017)).toThrow();
  });
});

describe('a network program before any target pod has an address', () => {
  test('still defines @podip, so bpftrace compiles it, with an entry that never matches', () => {
    const text = networkProgram(
      { seeds: [], podPrefixes: ['/kubepods.slice/'], podIPs: [] },
      1000,
      v017,
    ).text;
    expect(text).toContain('@podip[ntop(pton("::"))] = 0;');
    expect(text).not.toMatch(/@podip\[[^\]]+\] = 1;/);
  });
});
