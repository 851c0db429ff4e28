/**
 * What an OCI runtime itself does after it has installed the container's seccomp filter and before
 * the entrypoint's execve. Those syscalls are checked against the profile, so a profile without them
 * stops the container from starting at all. When the agent saw the container start under a filter it
 * recorded them; otherwise the profile builder adds the list below and says so.
 *
 * Only that window counts: what the runtime does before the filter exists (mount, pivot_root,
 * unshare, setns, sethostname, …) is never part of a profile.
 *
 * Names are libseccomp's. A name a node architecture lacks (e.g. `select` on arm64) is dropped for
 * that architecture by the builder, never renamed.
 */

export type ContainerRuntime = 'runc' | 'crun';

export interface RuntimeSyscallList {
  runtime: ContainerRuntime;
  /** Where the list comes from, quoted in the profile's notes and on stderr. */
  source: string;
  names: readonly string[];
  /**
   * The part of `names` that happens only sometimes (a Go runtime's locks, preemption signals, GC):
   * one recorded start may miss them and the next start need them, so they are added even when the
   * runtime window was recorded.
   */
  timingDependent: readonly string[];
}

/*
 * runc — source: libcontainer/standard_init_linux.go, (*linuxStandardInit).Init. The filter is
 * loaded by seccomp.InitSeccomp (libcontainer/seccomp/patchbpf: prctl(PR_SET_SECCOMP) when no
 * filter flags are set, seccomp(SECCOMP_SET_MODE_FILTER) otherwise), on the init thread only (no
 * TSYNC; runc init is LockOSThread'ed and new Go threads come from the unfiltered template thread).
 * Where it is loaded depends on noNewPrivileges (Kubernetes: allowPrivilegeEscalation: false):
 *   - false (the Kubernetes default): before finalizeNamespace (libcontainer/init_linux.go), which
 *     marks inherited fds close-on-exec via /proc/self/fd (openat, fstatfs, getdents64, fcntl,
 *     close), drops the bounding set and sets keep-caps (prctl), runs setupUser (reads /etc/passwd
 *     and /etc/group: openat, read, fstat, close; fixStdioPermissions: newfstatat /dev/null, fstat,
 *     fchown; then setgroups, setgid, setuid), applies capabilities (capget, capset, prctl), chdir;
 *     then pdeath.Restore (prctl), getppid, exec.LookPath (newfstatat, getcwd) and eaccess
 *     (faccessat2, falling back to faccessat on kernels before 5.8 or when faccessat2 is denied);
 *   - true: after LookPath/eaccess.
 * Both paths then close the sync and log pipes (close), open and write the exec fifo via
 * /proc/self/fd or /proc/thread-self/fd (openat, write, close), getpid for the hook state, close
 * the fds not passed to the container (CVE-2024-21626: /proc/self/fd walk with openat, epoll_ctl —
 * Go registers the directory with its poller —, fstatfs, getdents64, close; runc ≥ 1.2 prefers
 * close_range) and execve (runc 1.2 with runc-dmz: execveat).
 * runc 1.2.8, 1.3.3 and 1.4 on (CVE-2025-52881) reopen the exec fifo with pathrs-lite
 * (internal/pathrs.Reopen): /proc/thread-self/fd through openat2, or when that is denied an openat
 * walk that reads the thread-self symlink (readlinkat), fstatfs of the proc root, and statx for the
 * magic-link's mount id (probed once before the filter, so a denied statx fails the reopen).
 * The Go runtime may act on the init thread in that window: futex, nanosleep, sched_yield (locks,
 * parking), rt_sigreturn (async preemption signals), rt_sigprocmask, getpid/gettid/tgkill
 * (preempting other threads for GC), mmap/munmap/madvise (heap), epoll_pwait (netpoll), and
 * exit_group if init fails after the filter, so the failure is reported instead of masked.
 *
 * Verified on Debian 12 with runc 1.1.5+ds1-1+deb12u1 (go1.19.8, libseccomp 2.5.4), busybox-static
 * bundles with an allow-all filter (defaultAction SCMP_ACT_ALLOW, kexec_load denied, so runc loads
 * a filter), noNewPrivileges true and false, uid 0 and 65534 with additionalGids, the Kubernetes
 * default capability set, absolute and PATH-relative entrypoints. bpftrace armed per thread on the
 * successful return of prctl(PR_SET_SECCOMP) / seccomp(SECCOMP_SET_MODE_FILTER, uargs != NULL)
 * (libseccomp probes flags with NULL filters first, which fail with EFAULT) and recorded
 * raw_syscalls:sys_enter of that thread until sys_enter_execve. Observed: capget capset chdir
 * close epoll_ctl faccessat2 fchown fcntl fstat fstatfs futex getcwd getdents64 getpid getppid
 * newfstatat openat prctl read rt_sigreturn setgid setgroups setuid write (+ execve). The rest of
 * the list is from the source above (other kernels, runc 1.2, runtime nondeterminism).
 * Then enforced with defaultAction SCMP_ACT_ERRNO: this list plus busybox true's own syscalls
 * starts the container in all four noNewPrivileges × uid variants (30 more runs, no failure);
 * busybox's syscalls alone do not (runc init dies after the filter); dropping capset, setgroups,
 * openat or getdents64 fails the start with EPERM; dropping faccessat2 works only because
 * x/sys/unix falls back to faccessat, which is why both are listed.
 * Note: a syscall the filter denies never reaches the tracepoint (seccomp runs before
 * trace_sys_enter), hence the allow-all filter for the measurement.
 */
export const RUNC: RuntimeSyscallList = {
  runtime: 'runc',
  source:
    "runc's libcontainer/standard_init_linux.go (linuxStandardInit.Init: seccomp.InitSeccomp up to " +
    'system.Exec) and init_linux.go (finalizeNamespace), plus the Go runtime on that thread; ' +
    'verified with runc 1.1.5; pathrs-lite exec fifo reopen of runc 1.2.8+ from source',
  names: [
    'capget',
    'capset',
    'chdir',
    'close',
    'close_range',
    'epoll_ctl',
    'epoll_pwait',
    'execve',
    'execveat',
    'exit_group',
    'faccessat',
    'faccessat2',
    'fchown',
    'fcntl',
    'fstat',
    'fstatfs',
    'futex',
    'getcwd',
    'getdents64',
    'getpid',
    'getppid',
    'gettid',
    'madvise',
    'mmap',
    'munmap',
    'nanosleep',
    'newfstatat',
    'openat',
    'openat2',
    'prctl',
    'read',
    'readlinkat',
    'rt_sigprocmask',
    'rt_sigreturn',
    'sched_yield',
    'setgid',
    'setgroups',
    'setuid',
    'statx',
    'tgkill',
    'write',
  ],
  timingDependent: [
    'epoll_pwait',
    'futex',
    'gettid',
    'madvise',
    'mmap',
    'munmap',
    'nanosleep',
    'rt_sigprocmask',
    'rt_sigreturn',
    'sched_yield',
    'tgkill',
  ],
};

/*
 * crun — source: src/libcrun/container.c. With noNewPrivileges false the filter is loaded by
 * libcrun_apply_seccomp in container_init_setup (apply_security_settings in newer releases), after
 * which: close of the seccomp fds; libcrun_set_caps → set_required_caps (src/libcrun/linux.c:
 * prctl PR_CAPBSET_DROP / PR_SET_KEEPCAPS / PR_CAP_AMBIENT / PR_SET_NO_NEW_PRIVS, setresgid,
 * setresuid, capset); chdir to the cwd; then container_init: unblock_signals (rt_sigprocmask,
 * rt_sigaction for every signal), the sync-socket write and close, the exec-fifo wait (select —
 * glibc uses pselect6 where select does not exist —, read, close), and execv (execve). With
 * noNewPrivileges true the filter is loaded in container_init after the fifo wait, so only close
 * and execve follow. crun is C: glibc may allocate on error and environment paths (brk, mmap,
 * munmap), and a failure is written to the sync socket or stderr before exit_group.
 * Not included: start-container hooks and seccomp notify receivers (annotations Kubernetes does
 * not set), and the intermediate user namespace of libcrun_create_final_userns.
 * Source-derived only: crun is not installed on the development machines, so this list has not
 * been traced like runc's.
 */
export const CRUN: RuntimeSyscallList = {
  runtime: 'crun',
  source:
    "crun's src/libcrun/container.c (container_init_setup from libcrun_apply_seccomp, then " +
    'container_init up to execv) and src/libcrun/linux.c (set_required_caps); from source, not traced',
  names: [
    'brk',
    'capset',
    'chdir',
    'close',
    'execve',
    'exit_group',
    'mmap',
    'munmap',
    'prctl',
    'pselect6',
    'read',
    'rt_sigaction',
    'rt_sigprocmask',
    'select',
    'setresgid',
    'setresuid',
    'write',
  ],
  // crun is C: nothing in its window depends on a language runtime's timing.
  timingDependent: [],
};

export const RUNTIME_SYSCALLS: Readonly<Record<ContainerRuntime, RuntimeSyscallList>> = {
  runc: RUNC,
  crun: CRUN,
};
