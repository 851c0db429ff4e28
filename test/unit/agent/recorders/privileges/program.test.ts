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
const [v017] = DIALECTS;
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
      capsPart(targets, 'amd64', route).probes?.join('\n') ?? '',
    );
  });

  test('no route reads the syscall number from the kernel stack: a per-thread map from raw_syscalls:sys_enter', () => {
    for (const arch of ['amd64', 'arm64'] as const) {
      for (const checks of ['tracepoint', 'kprobe'] as const) {
        const text = capsPart(targets, arch, { checks, capSet: 'val' }).probes?.join('\n');
        expect(text).not.toMatch(/pt_regs|->stack|orig_ax|syscallno/);
        expect(text).toContain(
          'tracepoint:raw_syscalls:sys_enter /@crec[cgroup]/ {\n  @cnr[tid] = args->id + 1;',
        );
        expect(text).toContain('$n = (int64)@cnr[tid] - 1;');
      }
    }
  });

  test('before Linux 6.3 capability sets are read as cap[2], from 6.3 as val', () => {
    const old = capsPart(targets, 'amd64', { checks: 'kprobe', capSet: 'cap' }).probes?.join('\n');
    expect(old).toContain(
      '((uint64)curtask->cred->cap_effective.cap[1] << 32 | (uint64)curtask->cred->cap_effective.cap[0])',
    );
    expect(old).not.toContain('cap_effective.val');
    const now = capsPart(targets, 'amd64', { checks: 'kprobe', capSet: 'val' }).probes?.join('\n');
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
    const caps = capsPart(targets, 'amd64', { checks: 'tracepoint', capSet: 'val' }).probes?.join('\n');
    expect(caps).not.toMatch(/cgroup_mkdir|private_data/);
  });
});
