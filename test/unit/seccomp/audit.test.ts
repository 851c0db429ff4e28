import { allowedSyscalls, auditOf, type AuditRecord } from '../../../lib/seccomp/audit';

const PROFILE = {
  defaultAction: 'SCMP_ACT_LOG',
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
  test('allowed: every name of an ALLOW or LOG rule (with arguments too), not of a denying rule', () => {
    expect([...allowedSyscalls(PROFILE)].sort()).toEqual(['close', 'getpid', 'openat', 'read', 'write']);
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
      allowedSyscalls(PROFILE),
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
    const audit = auditOf([rec({ syscalls: [4000] })], allowedSyscalls(PROFILE));
    expect(audit.entries[0].denied).toEqual([{ syscall: '#4000', count: 0 }]);
  });
});
