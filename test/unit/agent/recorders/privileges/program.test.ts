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

  test('arm64 reads the syscall number from syscallno and has no legacy path calls', () => {
    const text = program('arm64');
    expect(text).toContain('->syscallno');
    expect(text).not.toContain('->orig_ax');
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

  test('no probe reads cgroup_mkdir args->path beyond the shared arming part, and no raw_syscalls probe', () => {
    const caps = capsPart(targets, 'amd64').probes?.join('\n') ?? '';
    expect(caps).not.toMatch(/raw_syscalls|cgroup_mkdir|private_data/);
  });
});
