import { DIALECTS } from '../../../../../lib/agent/core/dialect';
import { capsPart, writeCalls } from '../../../../../lib/agent/recorders/privileges/program';
import { programFor } from '../../../../support/programs';
import { expectGolden } from '../../../golden';

const targets = {
  seeds: [
    { id: '329', recording: true },
    { id: '330', recording: false },
  ],
  podPrefixes: ['/kubepods/besteffort/pod00000000-0000-0000-0000-000000000000/'],
};
/** As the agent assembles it when only capabilities sessions run on the node. */
const [v017, v023] = DIALECTS;
const program = (arch: 'amd64' | 'arm64', dialect = v017) =>
  programFor([{ type: 'capabilities' }], targets, 1000, dialect, arch).text;

describe('capabilities program', () => {
  test.each(DIALECTS)(
    'amd64 program text ($series; verified to attach with 0.17.0 and 0.23.2 on Linux 6.18)',
    (dialect) => {
      expectGolden(`agent-caps/caps-program-amd64-${dialect.series}.bt`, program('amd64', dialect));
    },
  );

  test.each([
    ['kprobe', { checks: 'kprobe', capSet: 'val' }],
    ['kprobe-cap2', { checks: 'kprobe', capSet: 'cap' }],
  ] as const)('the %s route (kernels without the tracepoint) for 0.23 on amd64', (name, route) => {
    expectGolden(
      `agent-caps/caps-part-amd64-${name}.bt`,
      capsPart(targets, 'amd64', route, v023).probes?.join('\n') ?? '',
    );
  });

  test.each([
    [v017, 'tracepoint:raw_syscalls:sys_enter /@crec[cgroup]/ {\n  @cnr[tid] = args->id + 1;'],
    // The raw tracepoint's second argument is the syscall number (TP_PROTO(regs, id)).
    [v023, 'rawtracepoint:sys_enter /@crec[cgroup]/ {\n  @cnr[tid] = arg1 + 1;'],
  ])(
    'without a measured place of the user registers, a per-thread map from sys_enter ($series)',
    (dialect, enter) => {
      for (const arch of ['amd64', 'arm64'] as const) {
        for (const checks of ['tracepoint', 'kprobe'] as const) {
          const text = capsPart(targets, arch, { checks, capSet: 'val' }, dialect).probes?.join('\n');
          expect(text).not.toMatch(/pt_regs|->stack|orig_ax|syscallno|\$1/);
          expect(text).toContain(enter);
          expect(text).toContain('$n = (int64)@cnr[tid] - 1;');
        }
      }
    },
  );

  test('with it (0.23 on amd64), a check reads its syscall there and nothing runs on every syscall', () => {
    const measured = { ...v023, userRegs: 16216 };
    for (const checks of ['tracepoint', 'kprobe'] as const) {
      const part = capsPart(targets, 'amd64', { checks, capSet: 'val' }, measured);
      const text = part.probes?.join('\n') ?? '';
      expect(text).not.toMatch(/sys_enter \/|sys_exit \/|@cnr/);
      expect(text).toContain(
        '$u = ((struct pt_regs *)((uint64)curtask->stack + $1)); $n = (int64)$u->ax == -38 ? (int64)$u->orig_ax : -1;',
      );
      expect(part.end?.join(' ')).not.toContain('@cnr');
    }
    // The value is a positional parameter: one text for every kernel.
    const at = (userRegs: number) =>
      programFor([{ type: 'capabilities' }], targets, 1000, { ...v023, userRegs }, 'amd64');
    expect(at(16216).text).toBe(at(32744).text);
    expect(at(32744).args).toEqual(['32744']);
    expectGolden('agent-caps/caps-program-amd64-0.23-user-regs.bt', at(16216).text);
    // arm64 saves its registers in another layout, not proven here: the map stays.
    expect(
      capsPart(targets, 'arm64', { checks: 'tracepoint', capSet: 'val' }, measured).probes?.join('\n'),
    ).toContain('@cnr[tid] = arg1 + 1;');
  });

  test('before Linux 6.3 capability sets are read as cap[2], from 6.3 as val', () => {
    const old = capsPart(targets, 'amd64', { checks: 'kprobe', capSet: 'cap' }, v017).probes?.join('\n');
    expect(old).toContain(
      '((uint64)curtask->cred->cap_effective.cap[1] << 32 | (uint64)curtask->cred->cap_effective.cap[0])',
    );
    expect(old).not.toContain('cap_effective.val');
    const now = capsPart(targets, 'amd64', { checks: 'kprobe', capSet: 'val' }, v017).probes?.join('\n');
    expect(now).not.toContain('cap_effective.cap[');
  });

  test('fchownat reads its directory fd from dfd on every architecture; arm64 has no legacy path calls', () => {
    for (const arch of ['amd64', 'arm64'] as const) {
      expect(writeCalls(arch).find((w) => w.call === 'fchownat')).toMatchObject({ dfd: 'dfd' });
    }
    const text = program('arm64');
    expect(text).not.toContain('args->user');
    expect(text).not.toMatch(/sys_enter_(open|mkdir|unlink|rename) /);
    expect(writeCalls('arm64').length).toBeLessThan(writeCalls('amd64').length);
  });

  test('only running seeds record at once; others wait for their exec', () => {
    const text = program('amd64');
    expect(text).toContain('@crec[(uint64)329] = 1;');
    expect(text).not.toContain('@crec[(uint64)330]');
  });

  test('every syscall probe is guarded by the one cgroup lookup; open-family stashes only writes and root reads', () => {
    const text = program('amd64');
    const heads = text.split('\n').filter((l) => l.startsWith('tracepoint:syscalls:'));
    for (const h of heads) expect(h).toMatch(/ \/(@crec\[cgroup\]|@targets\[cgroup\])\/ \{$/);
    const openat = text.slice(text.indexOf('tracepoint:syscalls:sys_enter_openat '));
    expect(openat.slice(0, openat.indexOf('\n}'))).toContain(
      'if (args->flags & 579) { $s = 1; }\n  if (curtask->cred->euid.val == 0) { $s = 1; }',
    );
  });

  test('no probe reads cgroup_mkdir args->path beyond the shared arming part', () => {
    const caps = capsPart(targets, 'amd64', { checks: 'tracepoint', capSet: 'val' }, v017).probes?.join('\n');
    expect(caps).not.toMatch(/cgroup_mkdir|private_data/);
  });
});

describe("the runtime's start of an exec'd process", () => {
  const text = program('amd64');
  const body = (head: string) => {
    const at = text.indexOf(head);
    return text.slice(at, text.indexOf('\n}', at));
  };

  test('set*id calls, credentials and capability checks carry whether the runtime made them', () => {
    expect(body('tracepoint:syscalls:sys_exit_setuid ')).toContain(
      'if (@cphase) { @setid1[$c, $n, $a0, $a1, $a2, $ret, $rt]++; }',
    );
    expect(body('tracepoint:capability:cap_capable ')).toContain('@capc1[$c, $cap, $ok, $other, $n, $rt]++;');
    // A task is the runtime while its parent is outside the container and it is neither the
    // entrypoint nor past its own exec.
    expect(body('tracepoint:syscalls:sys_exit_setuid ')).toContain(
      'if ((uint64)curtask->real_parent->cgroups->dfl_cgrp != (uint64)curtask->cgroups->dfl_cgrp) {\n' +
        '      if (!@cent[pid] && !@cxd[pid] && ' +
        '(uint64)curtask->nsproxy->pid_ns_for_children->child_reaper != (uint64)curtask) { $rt = 1; }',
    );
  });

  test("the cgroup's first exec marks the entrypoint; a later exec from outside ends the runtime's part", () => {
    const exec = body('tracepoint:sched:sched_process_exec ');
    expect(exec).toContain('@crec[$c] = 1; @cent[pid] = 1; $rt = 0;');
    expect(exec).toContain('if ($rt) { @cxd[pid] = 1; ');
    // Credentials at an exec are the new program's own, never the runtime's.
    expect(exec).toMatch(/@cred1\[\$c, [^\]]*, 0\]\+\+;/);
    // The marks leave with their process.
    expect(body('tracepoint:sched:sched_process_exit ')).toContain(
      'if (tid == pid) {\n    $e = @cent[pid] ? 1 : 0; ' +
        'if ((uint64)curtask->nsproxy->pid_ns_for_children->child_reaper == (uint64)curtask) { $e = 1; }',
    );
  });
});

describe('binds below 1024 and the sysctl that decides their need', () => {
  const text = program('amd64');
  test("a successful bind below 1024 is recorded with its netns's ip_unprivileged_port_start and whether root made it", () => {
    const exit = text.slice(text.indexOf('tracepoint:syscalls:sys_exit_bind '));
    expect(exit.slice(0, exit.indexOf('\n}'))).toContain(
      '$s = (int64)curtask->nsproxy->net_ns->ipv4.sysctl_ip_prot_sock; $r = curtask->cred->euid.val == 0 ? 1 : 0; ' +
        'if (@cphase) { @lbind1[$c, $p, $s, $r]++; }',
    );
    const enter = text.slice(text.indexOf('tracepoint:syscalls:sys_enter_bind '));
    expect(enter.slice(0, enter.indexOf('\n}'))).toContain('if ($p > 0 && $p < 1024) { @bport[tid] = $p; }');
  });

  test('each exec records the sysctl of the network namespace it ran in', () => {
    const exec = text.slice(text.indexOf('tracepoint:sched:sched_process_exec '));
    expect(exec.slice(0, exec.indexOf('\n}'))).toContain('@pstart1[$c, $ps]++;');
  });
});

describe("the container's life", () => {
  const text = program('amd64');
  const body = (head: string) => text.slice(text.indexOf(head), text.indexOf('\n}', text.indexOf(head)));

  test("a stop signal (SIGTERM or the image's STOPSIGNAL, sent with kill()) handled, and each process exec'd into it, are counted", () => {
    expect(body('tracepoint:signal:signal_deliver ')).toContain(
      'if (args->code == 0 && (args->sig == 1 || args->sig == 2 || args->sig == 3 || args->sig == 15 || args->sig == 28)) ' +
        '{ $c = cgroup; if (@cphase) { @life1[$c, 1, 0]++; }',
    );
    expect(body('tracepoint:sched:sched_process_exec ')).toContain(
      'if ($rt) { @cxd[pid] = 1; if (@cphase) { @life1[$c, 2, 0]++; }',
    );
  });
});
