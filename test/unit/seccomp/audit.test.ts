import {
  auditOf,
  enforcingDenies,
  enforcingOf,
  enforcingOfInstall,
  ENFORCING_ANNOTATION,
  type AuditRecord,
} from '../../../lib/seccomp/audit';
import { installText, type SeccompProfileInstall } from '../../../lib/seccomp/install';

const PROFILE = {
  defaultAction: 'SCMP_ACT_ERRNO',
  syscalls: [
    { names: ['read', 'write', 'close'], action: 'SCMP_ACT_ALLOW' },
    { names: ['openat'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }] },
    { name: 'getpid', action: 'SCMP_ACT_LOG' },
    { names: ['mount'], action: 'SCMP_ACT_ERRNO' },
  ],
};

// amd64: read 0, write 1, close 3, getpid 39, accept4 288, symlinkat 266, mount 165, openat 257
const rec = (over: Partial<AuditRecord>): AuditRecord => ({
  node: 'n1',
  arch: 'amd64',
  pod: 'nginx-a',
  workload: 'nginx',
  container: 'nginx',
  recordedFromStart: true,
  syscalls: [],
  ...over,
});

describe('seccomp audit: what the enforcing profile would deny', () => {
  const denied = (profile: Record<string, unknown>, names: string[]) =>
    names.filter(enforcingDenies(enforcingOf(profile)));
  const NAMES = ['read', 'write', 'close', 'openat', 'getpid', 'mount', 'accept4'];

  test('an allow list denies what no ALLOW or LOG rule names (a rule with arguments counts as allowing)', () => {
    expect(denied(PROFILE, NAMES)).toEqual(['mount', 'accept4']);
  });

  test('a deny list denies only what a denying rule names without conditions', () => {
    const denyList = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['mount', 'umount2'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
        {
          names: ['clone'],
          action: 'SCMP_ACT_ERRNO',
          args: [{ index: 0, value: 0x10000000, op: 'SCMP_CMP_MASKED_EQ' }],
        },
        { names: ['ptrace'], action: 'SCMP_ACT_KILL_PROCESS' },
      ],
    };
    expect(denied(denyList, [...NAMES, 'clone', 'ptrace', 'umount2'])).toEqual([
      'mount',
      'ptrace',
      'umount2',
    ]);
  });

  const install = (text: string, annotations?: Record<string, string>): SeccompProfileInstall => ({
    apiVersion: 'harden.dev/v1alpha1',
    kind: 'SeccompProfileInstall',
    metadata: { name: 'p', namespace: 'web', ...(annotations ? { annotations } : {}) },
    spec: { profile: text, digest: 'sha256:0', mode: 'Audit' },
  });

  test("an install keeps its enforcing profile's decisions; one made before is read from its variant, default denying", () => {
    const denyList = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO' }],
    };
    const kept = install(installText(denyList, 'Audit'), {
      [ENFORCING_ANNOTATION]: JSON.stringify(enforcingOf(denyList)),
    });
    expect(NAMES.filter(enforcingDenies(enforcingOfInstall(kept)))).toEqual(['mount']);
    const before = install(`${JSON.stringify({ ...PROFILE, defaultAction: 'SCMP_ACT_LOG' })}\n`);
    expect(NAMES.filter(enforcingDenies(enforcingOfInstall(before)))).toEqual(['mount', 'accept4']);
    expect(() =>
      enforcingOfInstall(
        install(installText(denyList, 'Audit'), { [ENFORCING_ANNOTATION]: '{"allows": 1}' }),
      ),
    ).toThrow('install the profile again with --audit');
  });

  test('per workload and container, merged over pods: counts add, first is earliest, last latest', () => {
    const audit = auditOf(
      [
        rec({
          syscalls: [0, 1, 288, 165],
          seen: [
            [0, 9, 100, 200],
            [1, 9, 100, 200],
            [165, 1, 100, 100],
            [288, 3, 110, 190],
          ],
        }),
        rec({ pod: 'nginx-b', node: 'n2', syscalls: [0, 288], seen: [[288, 2, 105, 300]] }),
        rec({ pod: 'nginx-b', container: 'sidecar', syscalls: [3, 39] }),
        rec({ pod: 'nginx-old', syscalls: [266], recordedFromStart: false }),
      ],
      enforcingDenies(enforcingOf(PROFILE)),
      (w) => `deployment/${w}`,
    );
    expect(audit).toEqual({
      entries: [
        {
          workload: 'deployment/nginx',
          container: 'nginx',
          pods: ['nginx-a', 'nginx-b'],
          denied: [
            {
              syscall: 'accept4',
              count: 5,
              firstSeen: '1970-01-01T00:01:45Z',
              lastSeen: '1970-01-01T00:05:00Z',
            },
            {
              syscall: 'mount',
              count: 1,
              firstSeen: '1970-01-01T00:01:40Z',
              lastSeen: '1970-01-01T00:01:40Z',
            },
          ],
        },
        { workload: 'deployment/nginx', container: 'sidecar', pods: ['nginx-b'], denied: [] },
      ],
      notFromStart: ['nginx-old/nginx'],
    });
  });

  test('a number libseccomp cannot name is denied (no rule can allow it) and shown as a number', () => {
    const audit = auditOf([rec({ syscalls: [4000] })], enforcingDenies(enforcingOf(PROFILE)));
    expect(audit.entries[0].denied).toEqual([{ syscall: '#4000', count: 0 }]);
  });
});
