// A kind of session the core has never heard of, declared here as a recorder folder would declare
// it: the planner, the assembly and the output reader take it with no change to lib/agent/core.
import { assembleProgram } from '../../../lib/agent/core/assemble';
import { CgroupLayout } from '../../../lib/agent/core/cgroups';
import { DIALECTS } from '../../../lib/agent/core/dialect';
import { OutputReader } from '../../../lib/agent/core/output';
import { planTargets } from '../../../lib/agent/core/plan';
import type { Attributed, Recorder } from '../../../lib/agent/core/recorder';
import { RECORDERS } from '../../../lib/agent/recorders';
import type { SessionType } from '../../../lib/session/types';

/**
 * A recorder folder declares its kind into SessionKinds (see lib/agent/recorders/syscalls/types.ts); a
 * test cannot (the declaration would reach the CLI's per-kind tables too), so it names it so.
 */
const FILE_ACCESS = 'file-access' as unknown as SessionType;

interface Opened extends Attributed {
  path: string;
}

const fileAccess: Recorder<Opened> = {
  type: FILE_ACCESS,
  routes: [
    {
      name: 'tracepoint',
      parts: ({ inputs }) => [
        {
          begin: ['@fa_ready = 1;'],
          probes: [
            `tracepoint:syscalls:sys_enter_openat /@targets[cgroup]/ {\n  @fa0[cgroup, str(args->filename)] = 1;\n}`,
            `tracepoint:sched:sched_process_exit /@targets[cgroup]/ {\n  printf("harden:fa-exit %llu ${inputs.join(',')}\\n", cgroup);\n}`,
          ],
          interval: ['print(@fa0); clear(@fa0);'],
          end: ['clear(@fa_ready);'],
        },
      ],
    },
  ],
  output: { maps: ['@fa0'], tags: ['harden:fa-exit'] },
  parseMaps: (maps) =>
    Object.keys((maps['@fa0'] ?? {}) as object).map((k) => {
      const [cgroup, ...path] = k.split(',');
      return { cgroup, path: path.join(',') };
    }),
  parseLine: (line) => [{ cgroup: line.split(' ')[1], path: '(exit)' }],
  inputs: (s) => [s.metadata.name],
  record: () => ({ add: () => undefined }),
  schema: { node: { opened: { type: 'array', items: { type: 'string' } } } },
};

const recorders = [...RECORDERS, fileAccess];
const layout = new CgroupLayout({ mountPoint: '/sys/fs/cgroup', root: '/' }, 'cgroupfs');

test('a new kind is planned, assembled after the others, and reads its own output', () => {
  const session = {
    metadata: { name: 'fa-1', namespace: 'web' },
    spec: { type: FILE_ACCESS, target: { all: true }, state: 'Running' as const },
  };
  const { targets } = planTargets({
    sessions: [session],
    recorders,
    pods: new Map(),
    cgroups: new Map(),
    layout,
    cgroupIdOf: () => undefined,
  });
  expect(targets.extra).toEqual(['file-access', 'file-access:fa-1']);
  const program = assembleProgram(targets, {
    intervalMs: 1000,
    dialect: DIALECTS[1],
    arch: 'amd64',
    routes: recorders.map((recorder) => ({ recorder, route: recorder.routes[0] })),
  });
  expect(program.text).toContain('@fa0[cgroup, str(args->filename)] = 1;');
  expect(program.text).toContain('harden:fa-exit %llu fa-1');
  // Only its part: no other kind's.
  expect(program.text).not.toMatch(/raw_syscalls|inet_sock_set_state|cap_capable/);

  const reader = new OutputReader(recorders);
  expect(reader.parse('{"type": "map", "data": {"@fa0": {"42,/etc/passwd": 1}}}')).toEqual([
    { kind: 'recorded', recorder: 'file-access', events: [{ cgroup: '42', path: '/etc/passwd' }] },
  ]);
  expect(reader.parse('{"type": "printf", "data": "harden:fa-exit 42 fa-1\\n"}')).toEqual([
    { kind: 'recorded', recorder: 'file-access', events: [{ cgroup: '42', path: '(exit)' }] },
  ]);
  // The others' maps still go to them.
  expect(reader.parse('{"type": "map", "data": {"@sc0": {"42,0": 1}}}')).toEqual([
    { kind: 'recorded', recorder: 'seccomp', events: [{ cgroup: '42', nrs: [0] }] },
  ]);
});
