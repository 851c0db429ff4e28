import { hasSyscallName } from '../../../lib/seccomp/names';
import { CRUN, RUNC, RUNTIME_SYSCALLS } from '../../../lib/seccomp/runtime-syscalls';

describe('runtime syscall lists', () => {
  it.each([RUNC, CRUN])('$runtime: sorted, unique, with execve and a source', (list) => {
    expect([...list.names]).toEqual([...new Set(list.names)].sort());
    expect(list.names).toContain('execve');
    expect(list.source).toMatch(/\.(go|c)\b/);
    expect(RUNTIME_SYSCALLS[list.runtime]).toBe(list);
  });

  it.each([RUNC, CRUN])('$runtime: every name is a real libseccomp name', (list) => {
    const unknown = list.names.filter((n) => !hasSyscallName('amd64', n) && !hasSyscallName('arm64', n));
    expect(unknown).toEqual([]);
  });

  it('runc: every name exists on both architectures (Go uses the *at calls everywhere)', () => {
    expect(RUNC.names.filter((n) => !hasSyscallName('arm64', n) || !hasSyscallName('amd64', n))).toEqual([]);
  });

  it.each([RUNC, CRUN])('$runtime: nothing the runtime does before the filter exists', (list) => {
    for (const early of [
      'mount',
      'umount2',
      'pivot_root',
      'unshare',
      'setns',
      'sethostname',
      'chroot',
      'clone',
    ]) {
      expect(list.names).not.toContain(early);
    }
  });

  it('runc: contains everything traced between the filter and execve with runc 1.1.5', () => {
    // prettier-ignore
    const traced = [
      'capget', 'capset', 'chdir', 'close', 'epoll_ctl', 'execve', 'faccessat2', 'fchown', 'fcntl', 'fstat',
      'fstatfs', 'futex', 'getcwd', 'getdents64', 'getpid', 'getppid', 'newfstatat', 'openat', 'prctl', 'read',
      'rt_sigreturn', 'setgid', 'setgroups', 'setuid', 'write',
    ];
    expect(traced.filter((n) => !RUNC.names.includes(n))).toEqual([]);
  });

  it('runc ≥ 1.2.8, 1.3.3, 1.4: reopening the exec fifo through pathrs-lite after the filter', () => {
    // openat2 (or, denied, the openat walk that reads /proc/thread-self with readlinkat) and statx
    // for the magic-link's mount id: without them the reopen fails and the container never starts.
    expect(['openat2', 'readlinkat', 'statx'].filter((n) => !RUNC.names.includes(n))).toEqual([]);
  });
});

describe('timing-dependent calls', () => {
  test.each([
    ['runc', RUNC],
    ['crun', CRUN],
  ])('%s: each is part of its documented list', (_name, list) => {
    for (const n of list.timingDependent) expect(list.names).toContain(n);
  });
});
