import { syscallRecordsOf } from '../../../lib/agent/recorders/syscalls/session';
import { observationsOf } from '../../../lib/seccomp/from-session';
import {
  hasSyscallName,
  NODE_ARCHES,
  namesFor,
  syscallName,
  tableVersion,
  UnknownSyscallError,
} from '../../../lib/seccomp/names';
import { expectGolden, goldenJson } from '../golden';

describe('syscallName', () => {
  it.each([
    ['amd64', 0, 'read'],
    ['amd64', 59, 'execve'],
    ['amd64', 231, 'exit_group'],
    ['amd64', 435, 'clone3'],
    ['arm64', 63, 'read'],
    ['arm64', 221, 'execve'],
    ['arm64', 94, 'exit_group'],
    ['arm64', 435, 'clone3'],
    // Newer kernels' calls (6.8-6.13), which nodes on EKS's, GKE's and Bottlerocket's 6.12 serve:
    // util-linux's statmount/listmount, and the call every uretprobe's return makes on x86_64 ≥ 6.11.
    ['amd64', 335, 'uretprobe'],
    ['amd64', 457, 'statmount'],
    ['arm64', 458, 'listmount'],
    ['arm64', 462, 'mseal'],
    ['amd64', 466, 'removexattrat'],
  ] as const)('%s %d is %s', (arch, nr, name) => {
    expect(syscallName(arch, nr)).toBe(name);
  });

  it('names the number and architecture of an unknown syscall', () => {
    expect(() => syscallName('amd64', 4000)).toThrow(UnknownSyscallError);
    expect(() => syscallName('amd64', 4000)).toThrow(
      /unknown syscall number 4000 on amd64 \(x86_64, libseccomp \d/,
    );
    // 244-259 are reserved for architecture-specific calls, none of which arm64 defines.
    expect(() => syscallName('arm64', 244)).toThrow(/unknown syscall number 244 on arm64 \(aarch64/);
  });

  it('never names x32 numbers or non-numbers', () => {
    expect(() => syscallName('amd64', 0x40000000)).toThrow(UnknownSyscallError);
    expect(() => syscallName('amd64', -1)).toThrow(/-1 on amd64/);
    expect(() => syscallName('amd64', 1.5)).toThrow(/1\.5 on amd64/);
  });

  it('rejects an unsupported architecture', () => {
    // @ts-expect-error: the arch comes from the API server at run time
    expect(() => syscallName('s390x', 0)).toThrow('unsupported node architecture "s390x"');
  });
});

describe('namesFor', () => {
  it('sorts and dedupes, per architecture (golden)', () => {
    const numbers = [59, 0, 1, 1, 231, 257, 3, 0];
    const arm = [221, 63, 64, 64, 94, 56, 57, 63];
    expectGolden(
      'seccomp/names.json',
      goldenJson({
        amd64: namesFor('amd64', numbers),
        arm64: namesFor('arm64', arm),
        empty: namesFor('amd64', []),
      }),
    );
  });

  it('lists every unknown number at once, sorted and unique', () => {
    let err: unknown;
    try {
      namesFor('arm64', [63, 5000, 1024, 5000, 221, 244]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnknownSyscallError);
    const u = err as UnknownSyscallError;
    expect(u.numbers).toEqual([244, 1024, 5000]);
    expect(u.arch).toBe('arm64');
    expect(u.message).toMatch(/^unknown syscall numbers 244, 1024, 5000 on arm64 \(aarch64, libseccomp /);
  });
});

describe('hasSyscallName', () => {
  it('knows which names exist on which architecture', () => {
    expect(hasSyscallName('amd64', 'select')).toBe(true);
    expect(hasSyscallName('arm64', 'select')).toBe(false);
    expect(hasSyscallName('arm64', 'pselect6')).toBe(true);
    expect(hasSyscallName('amd64', 'no_such_syscall')).toBe(false);
  });

  it('reports the generating libseccomp version', () => {
    expect(tableVersion('amd64')).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('one list of supported node architectures', () => {
  const session = (arch: string) => ({
    apiVersion: 'harden.dev/v1alpha1' as const,
    kind: 'TraceSession' as const,
    metadata: { name: 'sc-1', namespace: 'web' },
    spec: { type: 'seccomp' as const, target: { podName: 'p' }, state: 'Stopped' as const },
    status: {
      nodes: [
        {
          node: 'n1',
          arch,
          agentVersion: 'v',
          lastFlush: '2025-01-01T00:00:00Z',
          final: true,
          containers: [
            {
              pod: 'p',
              podUID: 'u',
              container: 'c',
              containerID: 'containerd://x',
              syscalls: [0],
              recordedFromStart: true,
              filterSeen: true,
            },
          ],
        },
      ],
    },
  });

  it.each(NODE_ARCHES)('%s has a table and is read from a session', (arch) => {
    expect(tableVersion(arch)).toMatch(/^\d+\.\d+\.\d+$/);
    expect(observationsOf('ns', syscallRecordsOf(session(arch)), 'runc')[0].arch).toBe(arch);
  });

  it('anything else is refused where the session is read, naming the node', () => {
    expect(() => observationsOf('ns', syscallRecordsOf(session('s390x')), 'runc')).toThrow(
      'node "n1" reported architecture "s390x", which kubectl-harden has no syscall table for',
    );
  });
});
