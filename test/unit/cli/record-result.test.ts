// What record writes per workload, from evidence alone (pure): file names, each container's own
// Localhost profile in the one patch, and records of pods gone since found by their workload's name.
import { profileName } from '../../../lib/seccomp/install';
import { synthesize, type Evidence } from '../../../lib/cli/record-result';
import type { SyscallRecord } from '../../../lib/agent/recorders/syscalls/session';
import * as f from '../securitycontext/fixtures';

const sys = (pod: string, container: string, over: Partial<SyscallRecord> = {}): SyscallRecord =>
  ({
    pod,
    podUID: `uid-${pod}`,
    workload: 'app',
    container,
    containerID: `containerd://${pod}-${container}`,
    recordedFromStart: true,
    filterSeen: true,
    node: 'node-1',
    arch: 'amd64',
    syscalls: [0, 1, 59, 231],
    ...over,
  }) as SyscallRecord;

const evidence = (over: Partial<Evidence>): Evidence => ({
  id: 'rec-1',
  startTime: '2025-01-01T00:00:00Z',
  endTime: '2025-01-01T00:01:00Z',
  restarted: true,
  pods: {},
  syscalls: [],
  privileges: [],
  gaps: [],
  ...over,
});

const input = (e: Evidence[]) => ({
  namespace: 'web',
  evidence: e,
  specs: new Map(),
  policies: [],
  netpolFormat: 'kubernetes' as const,
  runtime: 'runc' as const,
});

test('a workload of two containers gets a profile each, and the patch gives each container its own', () => {
  const e = evidence({
    pods: { 'app-1': { kind: 'Deployment', name: 'app' } },
    syscalls: [sys('app-1', 'web'), sys('app-1', 'sidecar', { syscalls: [0, 231] })],
    privileges: [
      { ...f.idleRunning, pod: 'app-1', workload: 'app', container: 'web' },
      { ...f.idleRunning, pod: 'app-1', workload: 'app', container: 'sidecar' },
    ],
  });
  const out = synthesize(input([e]));
  // Each an install name (a DNS-1123 label), the container's name in it.
  const [web, sidecar] = [profileName('deployment-app', 'web'), profileName('deployment-app', 'sidecar')];
  expect(web).toMatch(/^deployment-app-web-[0-9a-f]{8}$/);
  expect(out.files.map((x) => x.name).sort()).toEqual(
    [
      'deployment-app.securitycontext.yaml',
      `${sidecar}.seccomp.json`,
      `${sidecar}.seccompprofile.yaml`,
      `${web}.seccomp.json`,
      `${web}.seccompprofile.yaml`,
    ].sort(),
  );
  const sc = out.files.find((x) => x.name.endsWith('.securitycontext.yaml'))?.text ?? '';
  expect(sc).toContain(`localhostProfile: harden/web/${web}.json`);
  expect(sc).toContain(`localhostProfile: harden/web/${sidecar}.json`);
  expect(out.rows).toEqual([
    expect.objectContaining({
      workload: 'deployment/app',
      kind: 'Deployment',
      name: 'app',
      startupRecorded: true,
    }),
  ]);
});

test("a pod gone since (rolled out) is found by its workload's name; start-up counts once any instance showed it", () => {
  const e = evidence({
    pods: { 'app-new': { kind: 'StatefulSet', name: 'app' } },
    syscalls: [sys('app-old', 'web', { recordedFromStart: false }), sys('app-new', 'web')],
  });
  const out = synthesize(input([e]));
  expect(out.rows.map((r) => [r.workload, r.startupRecorded])).toEqual([['statefulset/app', true]]);
  const late = synthesize(
    input([evidence({ syscalls: [sys('lonely', 'web', { recordedFromStart: false })] })]),
  );
  expect(late.rows.map((r) => [r.workload, r.startupRecorded])).toEqual([['pod/lonely', false]]);
});

test('a container whose profile cannot be built is named and skipped; every other file is still made', () => {
  const e = evidence({
    pods: {
      'app-1': { kind: 'Deployment', name: 'app' },
      'app-2': { kind: 'Deployment', name: 'app' },
      'odd-1': { kind: 'Deployment', name: 'odd' },
    },
    syscalls: [
      // One Deployment on an amd64 and an arm64 node (arm64: 63 read, 221 execve): one profile.
      sys('app-1', 'web'),
      sys('app-2', 'web', { arch: 'arm64', node: 'node-2', syscalls: [63, 221] }),
      sys('odd-1', 'main', { workload: 'odd', syscalls: [0, 3000] }),
    ],
  });
  const out = synthesize(input([e]));
  expect(out.refused).toEqual(['deployment/odd container main']);
  expect(out.notes).toContainEqual(
    expect.stringMatching(
      /^warning: deployment\/odd: container main has no seccomp profile: unknown syscall number 3000/,
    ),
  );
  const app = out.files.find((x) => x.name.endsWith('.seccomp.json'));
  expect(out.files.filter((x) => x.name.endsWith('.seccomp.json'))).toHaveLength(1);
  expect(JSON.parse(app?.text ?? '{}').architectures).toEqual(
    expect.arrayContaining(['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64']),
  );
  expect(out.rows.map((r) => r.workload)).toEqual(['deployment/app', 'deployment/odd']);
});
