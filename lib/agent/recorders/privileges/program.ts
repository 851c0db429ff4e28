/**
 * bpftrace program part for capabilities (securityContext) sessions. Pure: the same targets give
 * the same text. Tracepoints only; everything is aggregated in maps flipped per interval.
 *
 * What this kernel offers (Linux 6.18, checked with /sys/kernel/tracing/events/.../format):
 * - `capability:cap_capable` (Linux ≥ 6.14) carries cred, target_ns, capable_ns, cap and ret — but
 *   NOT the CAP_OPT_* options, so a "noaudit" probe (a check the kernel makes to decide something
 *   for the process, such as the CAP_SYS_ADMIN test in every mmap/brk's memory accounting) cannot
 *   be told apart from a real need by the tracepoint alone. What is recorded instead, per check:
 *   the syscall it happened in (read from the task's saved user registers at the top of its kernel
 *   stack), whether it was granted, and whether it was made with credentials other than the task's
 *   own (`cred != real_cred`: overridden credentials, e.g. overlayfs copying up with the mounter's).
 *   Synthesis decides "needed" from those (see lib/securitycontext/capabilities.ts).
 *   Kernels before 6.14 lack that tracepoint: there `kprobe:cap_capable` (arguments cred, ns,
 *   cap, opts since Linux 5.1) and its kretprobe give the same check and result (CapsRoute).
 * - The syscall a check ran in: on amd64 with a dialect that measured where a task's user
 *   registers are saved (Dialect.userRegs; their place moves with FRED's stack padding and KASAN's
 *   larger stacks, so it is measured, never assumed), read there at the check: `orig_ax` is the
 *   syscall while `ax` still holds the -ENOSYS the entry put there; an exception from user mode
 *   (a page fault growing the stack) saves -1 as `orig_ax`, and once the syscall returned `ax`
 *   holds its result, so a check after it (task work on the way out) is outside any syscall too.
 *   Nothing runs on syscalls the workload makes without a check. Otherwise a per-thread map
 *   filled at every syscall's entry and emptied at its exit (two probes on every syscall of the
 *   node).
 * - A capability set (`kernel_cap_t`) is one u64 `val` from Linux 6.3 and `__u32 cap[2]` before.
 * - `sched:sched_process_exec` runs after the new credentials are committed: `curtask->cred` is
 *   the new image's. The old ones are stashed at `sys_enter_execve[at]`; a gain (euid/egid change,
 *   or effective capabilities the old image did not have) is recorded with the file name.
 * - The set*id syscalls' tracepoints give their arguments at entry and the result at exit.
 * - Writes: open-family calls with a write flag are judged at exit by the opened file's mount
 *   (`file->f_path.mnt == curtask->fs->root.mnt`: exact). Path-only calls (mkdir, unlink, rename…,
 *   and a unix socket's bind to a path) have no file: a relative path is judged by its directory's mount (exact for the directory; a
 *   relative path crossing into a mount below it is not seen), an absolute path is left to the
 *   pod's volume mounts in user space (inferred).
 *
 * Struct reads are written with explicit casts, which bpftrace 0.17 and 0.23 both accept.
 */
import type { NodeArch } from '../../../seccomp/names';
import {
  EV_EXEC,
  flippedMaps,
  IS_STOP_SIGNAL,
  NOT_PID_NS_INIT,
  PARENT_OUTSIDE_CGROUP,
  PID_NS_INIT,
  rawSyscallProbe,
  RUNTIME_SELF_EXEC,
  USER_REGS,
  type ProgramPart,
  type ProgramTargets,
} from '../../core/program';
import type { Dialect } from '../../core/dialect';

/** Map pairs (flipped per interval like the syscall sets); key layouts are parsed in ./parse. */
export const CAPS_MAPS = {
  /** [cgroup, cap, granted, onBehalf, syscall nr, runtime (1: see RUNTIME)] */
  checks: ['@capc0', '@capc1'],
  /** [cgroup, uid, gid, euid, egid, cap_effective, runtime] at each exec and after each set*id call */
  creds: ['@cred0', '@cred1'],
  /** [cgroup, syscall nr, arg0, arg1, arg2, ret, runtime] */
  setids: ['@setid0', '@setid1'],
  /** [cgroup, old euid, euid, old egid, egid, old cap_effective, cap_effective, file name] */
  execs: ['@xcred0', '@xcred1'],
  /**
   * [cgroup, syscall nr, on root fs (1), on a mount (0), unknown (2), dir, path]; dir: for a
   * relative path, the dentry (kernel address) of the directory it is relative to, else 0.
   */
  writes: ['@wr0', '@wr1'],
  /** [dentry] → its name, and [dentry, its parent]: a relative write's directory, DIR_DEPTH levels up */
  dirNames: ['@dn0', '@dn1'],
  dirParents: ['@dp0', '@dp1'],
  /** [cgroup, permission bits, owner uid, owner gid, path] of files root opened that others may not read */
  privateReads: ['@prd0', '@prd1'],
  /**
   * [cgroup, port, the netns's ip_unprivileged_port_start, by root (1)] of each successful bind of
   * a port below 1024: whether it needed CAP_NET_BIND_SERVICE depends on that sysctl, which
   * runtimes set apart.
   */
  lowBinds: ['@lbind0', '@lbind1'],
  /** [cgroup, ip_unprivileged_port_start] of the network namespace each exec ran in */
  portStart: ['@pstart0', '@pstart1'],
  /**
   * [cgroup, what, value]: the container's life as seen. what: LIFE_STOP_SIGNAL (a stop signal delivered
   * to one of its processes, value 0), LIFE_EXEC_IN (a process exec'd into it from outside, value
   * 0), LIFE_EXIT (its entrypoint exited, value: its exit status, the signal in the low 7 bits).
   */
  life: ['@life0', '@life1'],
} as const;
export type CapsMapKind = keyof typeof CAPS_MAPS;

const PHASE = '@cphase';
/** Recording cgroups: from their entrypoint's exec (what runc does before is not the workload's). */
const REC = '@crec';
const AT_FDCWD = -100;
export const LIFE_STOP_SIGNAL = 1;
export const LIFE_EXEC_IN = 2;
export const LIFE_EXIT = 3;
/** Processes (tgid) whose exec started their cgroup's recording: the containers' entrypoints. */
const ENTRY = '@cent';
/** Processes the runtime exec'd into a recording container that have reached their own exec. */
const EXECD = '@cxd';
/**
 * Sets $rt to 1 while the current task is the runtime starting a process exec'd into the container
 * (an exec probe, `kubectl exec`): runc's init joins the container's cgroup, switches from uid 0 to
 * the image's user (setgroups, setgid, setuid, with CAP_SETUID/CAP_SETGID checks), then execs the
 * process. That is not the workload's start-up, as what runc does before the entrypoint's exec is
 * not. Such a task's parent is outside the container's cgroup (runc, then the shim); so is the
 * entrypoint's, which is marked at its exec instead (PARENT_OUTSIDE_CGROUP). An entrypoint running before this program (its exec not seen) is its pid namespace's init.
 */
const RUNTIME_TEST = [
  `$rt = 0;`,
  `if (${PARENT_OUTSIDE_CGROUP}) {`,
  `  if (!${ENTRY}[pid] && !${EXECD}[pid] && ${NOT_PID_NS_INIT}) { $rt = 1; }`,
  `}`,
];
/**
 * Bytes of a path kept. Explicit, so the string is this long whatever the bpftrace's max_strlen
 * (0.23's 512 would overflow the 512-byte BPF stack in a probe that builds a path key).
 */
const PATH_STR = 200;
/** Directory levels walked up from a relative write's directory (a deeper one stays unresolved). */
export const DIR_DEPTH = 8;
const NAME_STR = 64;

/**
 * Names the directory `dir` (a dentry address) and its ancestors, so user space can spell out the
 * absolute path of a relative write. A bounded loop, not an unrolled chain: in each of the ~20
 * write probes, 8 unrolled levels made the program take 20 % longer to compile, which under load
 * pushed it past the attach timeout. The root's parent is itself, so a walk past it rewrites the
 * same entry.
 */
function dirChain(dir: string): string[] {
  const [n0, n1] = CAPS_MAPS.dirNames;
  const [p0, p1] = CAPS_MAPS.dirParents;
  return [
    `$d = (struct dentry *)${dir}; $i = 0;`,
    `while ($i < ${DIR_DEPTH}) {`,
    `  $k = (uint64)$d; $up = (uint64)$d->d_parent;`,
    // The parent is part of the key: a kernel address as a JSON value would lose precision.
    `  if (${PHASE}) { ${n1}[$k] = str($d->d_name.name, ${NAME_STR}); ${p1}[$k, $up] = 1; }`,
    `  else { ${n0}[$k] = str($d->d_name.name, ${NAME_STR}); ${p0}[$k, $up] = 1; }`,
    `  $d = (struct dentry *)$up; $i++;`,
    `}`,
  ];
}
/** O_WRONLY | O_RDWR | O_CREAT | O_TRUNC */
const WRITE_FLAGS = 0x1 | 0x2 | 0x40 | 0x200;

/** How a route sees capability checks and reads capability sets (see the file's comment). */
export interface CapsRoute {
  checks: 'tracepoint' | 'kprobe';
  capSet: 'val' | 'cap';
}

/**
 * net.ipv4.ip_unprivileged_port_start of the task's network namespace, read from the kernel (the
 * agent's own /proc/sys shows its namespace's, not the pod's). containerd 2 sets it to 0 in pods.
 */
const PORT_START = '(int64)curtask->nsproxy->net_ns->ipv4.sysctl_ip_prot_sock';
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;

/**
 * Successful binds of a port below 1024 (either family), with the sysctl that decides their need;
 * and of a unix socket to a path, which creates a file there like mknod (an abstract address, whose
 * first byte is 0, creates none).
 */
function bindProbes(): string[] {
  const port = (v: string) => `((${v} & 0xff) << 8 | (${v} >> 8))`;
  const sunPath = '(uint64)args->umyaddr + 2';
  return [
    probe(`tracepoint:syscalls:sys_enter_bind /${REC}[cgroup]/`, [
      `$sa = (struct sockaddr *)args->umyaddr; $fam = $sa->sa_family; $p = (int64)0;`,
      `if ($fam == ${AF_INET}) { $p = (int64)((struct sockaddr_in *)$sa)->sin_port; }`,
      `if ($fam == ${AF_INET6}) { $p = (int64)((struct sockaddr_in6 *)$sa)->sin6_port; }`,
      `$p = ${port('$p')};`,
      `if ($p > 0 && $p < 1024) { @bport[tid] = $p; }`,
      `if ($fam == ${AF_UNIX} && strncmp(str(uptr(${sunPath}), 2), "", 1) != 0) {`,
      ...stashPath(sunPath, `uptr(${sunPath})`).map((l) => `  ${l}`),
      `}`,
    ]),
    // Only a stash of an entry seen is deleted (bpftrace 0.23 reports deleting a missing key).
    probe(`tracepoint:syscalls:sys_exit_bind /${REC}[cgroup]/`, [
      `if (@bport[tid]) {`,
      `  if (args->ret == 0) { $c = cgroup; $p = @bport[tid]; $s = ${PORT_START}; $r = ${CRED}->euid.val == 0 ? 1 : 0; ${countInto('lowBinds', '$c, $p, $s, $r')} }`,
      `  delete(@bport[tid]);`,
      `}`,
      ...recordStashedPath(),
    ]),
  ];
}

/** The syscall each thread of a recording cgroup is in, plus one (0: none), where no registers tell it: `raw_syscalls:sys_enter`'s. */
const IN_SYSCALL = '@cnr';
const ENOSYS = 38;

/** Whether checks read their syscall from the saved user registers (see the header): else IN_SYSCALL. */
const fromRegisters = (arch: NodeArch, dialect: Dialect) =>
  arch === 'amd64' && dialect.syscalls === 'rawtracepoint' && dialect.userRegs !== undefined;

/** set*id calls and their argument fields (all exist on amd64 and arm64). */
const SETID_CALLS: [string, string[]][] = [
  ['setuid', ['uid']],
  ['setgid', ['gid']],
  ['setreuid', ['ruid', 'euid']],
  ['setregid', ['rgid', 'egid']],
  ['setresuid', ['ruid', 'euid', 'suid']],
  ['setresgid', ['rgid', 'egid', 'sgid']],
  ['setgroups', ['gidsetsize']],
  ['setfsuid', ['uid']],
  ['setfsgid', ['gid']],
];

interface WriteCall {
  call: string;
  /** The path argument recorded. */
  path: string;
  /** The directory fd argument of an *at call. */
  dfd?: string;
  /** Only with a write flag in this argument (open family). */
  flags?: string;
}

/** Calls that write to a file system, by architecture (amd64 keeps the legacy names). */
export function writeCalls(arch: NodeArch): WriteCall[] {
  const common: WriteCall[] = [
    { call: 'openat', path: 'filename', dfd: 'dfd', flags: 'flags' },
    { call: 'mkdirat', path: 'pathname', dfd: 'dfd' },
    { call: 'unlinkat', path: 'pathname', dfd: 'dfd' },
    { call: 'renameat2', path: 'newname', dfd: 'newdfd' },
    { call: 'linkat', path: 'newname', dfd: 'newdfd' },
    { call: 'symlinkat', path: 'newname', dfd: 'newdfd' },
    { call: 'mknodat', path: 'filename', dfd: 'dfd' },
    { call: 'fchmodat', path: 'filename', dfd: 'dfd' },
    { call: 'fchownat', path: 'filename', dfd: 'dfd' },
    { call: 'truncate', path: 'path' },
  ];
  if (arch === 'arm64') return common;
  return [
    ...common,
    { call: 'open', path: 'filename', flags: 'flags' },
    { call: 'creat', path: 'pathname' },
    { call: 'mkdir', path: 'pathname' },
    { call: 'unlink', path: 'pathname' },
    { call: 'rmdir', path: 'pathname' },
    { call: 'rename', path: 'newname' },
    { call: 'renameat', path: 'newname', dfd: 'newdfd' },
    { call: 'link', path: 'newname' },
    { call: 'symlink', path: 'newname' },
    { call: 'mknod', path: 'filename' },
    { call: 'chmod', path: 'filename' },
    { call: 'chown', path: 'filename' },
    { call: 'lchown', path: 'filename' },
  ];
}

const probe = (head: string, body: string[]) => [`${head} {`, ...body.map((l) => `  ${l}`), '}'].join('\n');

const { countInto, interval, end } = flippedMaps(PHASE, CAPS_MAPS);

const CRED = 'curtask->cred';
/** Forgets the credentials stashed at an exec's entry. */
const UNSTASH = 'delete(@xeu[tid]); delete(@xeg[tid]); delete(@xcap[tid]); delete(@xin[tid]);';

/** A task's effective capabilities as one u64, however the kernel's kernel_cap_t holds them. */
function effective(r: CapsRoute): string {
  const set = `${CRED}->cap_effective`;
  return r.capSet === 'val' ? `${set}.val` : `((uint64)${set}.cap[1] << 32 | (uint64)${set}.cap[0])`;
}

const credKey = (r: CapsRoute) =>
  `${CRED}->uid.val, ${CRED}->gid.val, ${CRED}->euid.val, ${CRED}->egid.val, ${effective(r)}`;

/** The probes that see each capability check, its result and the syscall it ran in. */
function checkProbes(r: CapsRoute, arch: NodeArch, dialect: Dialect): string[] {
  const regs = fromRegisters(arch, dialect);
  const nr = regs
    ? `$u = ${USER_REGS}; $n = (int64)$u->ax == -${ENOSYS} ? (int64)$u->orig_ax : -1;`
    : `$n = (int64)${IN_SYSCALL}[tid] - 1;`;
  const count = countInto('checks', '$c, $cap, $ok, $other, $n, $rt');
  const [enter, exit] = [rawSyscallProbe(dialect, 'sys_enter'), rawSyscallProbe(dialect, 'sys_exit')];
  const perSyscall = regs
    ? []
    : [
        // On every syscall of the node: the raw tracepoints where the dialect has them (see rawSyscallProbe).
        probe(`${enter.head} /${REC}[cgroup]/`, [`${IN_SYSCALL}[tid] = ${enter.value} + 1;`]),
        // Only an entry seen is deleted (bpftrace 0.23 reports deleting a missing key as an error).
        probe(`${exit.head} /${REC}[cgroup]/`, [`if (${IN_SYSCALL}[tid]) { delete(${IN_SYSCALL}[tid]); }`]),
      ];
  const processExit = probe(`tracepoint:sched:sched_process_exit /${REC}[cgroup]/`, [
    // exit and exit_group never return: without this, each ended thread would keep an entry
    // until the map is full and later threads' checks lose their syscall.
    ...(regs ? [] : [`if (${IN_SYSCALL}[tid]) { delete(${IN_SYSCALL}[tid]); }`]),
    // The marks of RUNTIME_TEST go with their process (pid numbers are reused).
    `if (tid == pid) {`,
    // The entrypoint: marked at its exec, or (running before this program) its pid namespace's init.
    `  $e = ${ENTRY}[pid] ? 1 : 0; if (${PID_NS_INIT}) { $e = 1; }`,
    `  if ($e) { $c = cgroup; $x = (int64)curtask->exit_code; ${countInto('life', `$c, ${LIFE_EXIT}, $x`)} }`,
    `  if (${ENTRY}[pid]) { delete(${ENTRY}[pid]); }`,
    `  if (${EXECD}[pid]) { delete(${EXECD}[pid]); }`,
    `}`,
  ]);
  const inSyscall = [...perSyscall, processExit];
  if (r.checks === 'tracepoint') {
    return [
      ...inSyscall,
      probe(`tracepoint:capability:cap_capable /${REC}[cgroup]/`, [
        `$c = cgroup; $cap = (int64)args->cap; $ok = args->ret == 0 ? 1 : 0;`,
        `$other = args->cred != curtask->real_cred ? 1 : 0;`,
        nr,
        ...RUNTIME_TEST,
        count,
      ]),
    ];
  }
  // cap_capable(cred, ns, cap, opts): the check at entry, its result at return, joined by thread.
  return [
    ...inSyscall,
    probe(`kprobe:cap_capable /${REC}[cgroup]/`, [
      `@ckcap[tid] = (int64)arg2 + 1;`,
      `@ckother[tid] = (uint64)arg0 != (uint64)curtask->real_cred ? 1 : 0;`,
    ]),
    probe(`kretprobe:cap_capable /${REC}[cgroup]/`, [
      `if (@ckcap[tid]) {`,
      `  $c = cgroup; $cap = @ckcap[tid] - 1; $ok = (int32)retval == 0 ? 1 : 0; $other = @ckother[tid];`,
      `  ${nr}`,
      ...RUNTIME_TEST.map((l) => `  ${l}`),
      `  ${count}`,
      `  delete(@ckcap[tid]); delete(@ckother[tid]);`,
      `}`,
    ]),
  ];
}

/**
 * Kernel pseudo file systems (proc, sysfs, cgroup2, tracefs, debugfs): their modes describe kernel
 * or per-process state, not files a user switch would lock out.
 */
const PSEUDO_FS = [0x9fa0, 0x62656572, 0x63677270, 0x74726163, 0x64626720];
const S_IFMT = 0xf000;
const S_IFREG = 0x8000;
const S_IFDIR = 0x4000;

/**
 * Where a relative path starts ($dir: the dir fd's or the working directory's dentry, 0 for an
 * absolute path) and whether that directory is on the root filesystem ($root: 1, 0, or 2 unknown).
 * A relative start on the root filesystem gets its directory chain named at once (at entry: the
 * exit probes have no stack left for it).
 */
function relativeStart(path: string, dfd?: string): string[] {
  // A dir fd is an int the tracepoint widens without sign: AT_FDCWD shows as 4294967196 unless cut back.
  const cwd = `$root = curtask->fs->pwd.mnt == curtask->fs->root.mnt ? 1 : 0; $dir = (uint64)curtask->fs->pwd.dentry;`;
  return [
    `$root = 2; $dir = (uint64)0;`,
    `if (strncmp(str(${path}, 2), "/", 1) != 0) {`,
    ...(dfd
      ? [
          `  if ((int32)args->${dfd} == ${AT_FDCWD}) { ${cwd} }`,
          `  if ((int32)args->${dfd} >= 0) {`,
          `    $df = (struct file *)*(curtask->files->fdt->fd + args->${dfd});`,
          `    $root = $df->f_path.mnt == curtask->fs->root.mnt ? 1 : 0; $dir = (uint64)$df->f_path.dentry;`,
          `  }`,
        ]
      : [`  ${cwd}`]),
    `}`,
    `if ($dir != 0 && $root == 1) {`,
    ...dirChain('$dir').map((l) => `  ${l}`),
    `}`,
  ];
}

/**
 * Open-family calls. A write open is recorded with its file's mount; a read open by a root process
 * of a regular file or directory that others may not read (mode lacks o+r) is recorded as a private
 * read: as another user it could fail, so "root was never needed" must not be claimed past it.
 */
function openProbes(w: WriteCall & { flags: string }): string[] {
  const file = '((struct file *)*(curtask->files->fdt->fd + args->ret))';
  return [
    // Two separate tests: one `||` of a syscall argument and a kernel read makes bpftrace warn of
    // an address-space mismatch.
    probe(`tracepoint:syscalls:sys_enter_${w.call} /${REC}[cgroup]/`, [
      `$s = 0;`,
      `if (args->${w.flags} & ${WRITE_FLAGS}) { $s = 1; }`,
      `if (${CRED}->euid.val == 0) { $s = 1; }`,
      `if ($s) {`,
      `  @wptr[tid] = (uint64)args->${w.path};`,
      `  @wwr[tid] = (args->${w.flags} & ${WRITE_FLAGS}) ? 1 : 0;`,
      `}`,
      `if (args->${w.flags} & ${WRITE_FLAGS}) {`,
      ...relativeStart(`args->${w.path}`, w.dfd).map((l) => `  ${l}`),
      `  @wdir[tid] = $dir;`,
      `}`,
    ]),
    probe(`tracepoint:syscalls:sys_exit_${w.call} /${REC}[cgroup]/`, [
      `$ptr = @wptr[tid];`,
      `if ($ptr != 0) {`,
      `  if (args->ret >= 0) {`,
      `    $c = cgroup; $n = (int64)args->__syscall_nr;`,
      `    if (@wwr[tid]) {`,
      `      $r = ${file}->f_path.mnt == curtask->fs->root.mnt ? 1 : 0; $dir = @wdir[tid];`,
      `      ${countInto('writes', `$c, $n, $r, $dir, str(uptr($ptr), ${PATH_STR})`)}`,
      `    }`,
      `    if (!@wwr[tid]) {`,
      `      $i = ${file}->f_inode;`,
      `      $m = (int64)$i->i_mode; $t = $m & ${S_IFMT}; $sb = (int64)$i->i_sb->s_magic;`,
      `      if (($m & 4) == 0 && ($t == ${S_IFREG} || $t == ${S_IFDIR}) && ${PSEUDO_FS.map((x) => `$sb != ${x}`).join(' && ')}) {`,
      `        $u = (int64)$i->i_uid.val; $g = (int64)$i->i_gid.val;`,
      `        ${countInto('privateReads', `$c, $m & 4095, $u, $g, str(uptr($ptr), ${PATH_STR})`)}`,
      `      }`,
      `    }`,
      `  }`,
      `  if (@wwr[tid]) { delete(@wdir[tid]); }`,
      `  delete(@wptr[tid]); delete(@wwr[tid]);`,
      `}`,
    ]),
  ];
}

/**
 * Stashes a path-only write at its entry, judging its mount there (no file at exit). The path's user
 * pointer is kept, not its text: it is still valid at exit, and one string on the 512-byte BPF stack
 * is all a probe can afford with STRLEN 200.
 */
const stashPath = (ptr: string, path: string, dfd?: string) => [
  `@wptr[tid] = ${ptr};`,
  ...relativeStart(path, dfd),
  `@wroot[tid] = $root; @wdir[tid] = $dir;`,
];

/** Records a stashed path-only write that succeeded. Only a stash of an entry seen is deleted. */
const recordStashedPath = () => [
  `$ptr = @wptr[tid];`,
  `if ($ptr != 0) {`,
  `  if (args->ret == 0) {`,
  `    $c = cgroup; $n = (int64)args->__syscall_nr; $r = @wroot[tid]; $dir = @wdir[tid];`,
  `    ${countInto('writes', `$c, $n, $r, $dir, str(uptr($ptr), ${PATH_STR})`)}`,
  `  }`,
  `  delete(@wptr[tid]); delete(@wroot[tid]); delete(@wdir[tid]);`,
  `}`,
];

/** Path-only calls (mkdir, unlink, rename…): no file at exit, so the mount is judged at entry. */
const pathProbes = (w: WriteCall): string[] => [
  probe(
    `tracepoint:syscalls:sys_enter_${w.call} /${REC}[cgroup]/`,
    stashPath(`(uint64)args->${w.path}`, `args->${w.path}`, w.dfd),
  ),
  probe(`tracepoint:syscalls:sys_exit_${w.call} /${REC}[cgroup]/`, recordStashedPath()),
];

const writeProbes = (w: WriteCall): string[] =>
  w.flags ? openProbes({ ...w, flags: w.flags }) : pathProbes(w);

function setidProbes(call: string, fields: string[], route: CapsRoute): string[] {
  const args = [0, 1, 2].map((i) => (fields[i] ? `(int64)args->${fields[i]}` : '-1'));
  return [
    probe(`tracepoint:syscalls:sys_enter_${call} /${REC}[cgroup]/`, [
      ...args.map((a, i) => `@sa${i}[tid] = ${a};`),
      '@sain[tid] = 1;',
    ]),
    probe(`tracepoint:syscalls:sys_exit_${call} /${REC}[cgroup]/`, [
      // Only calls whose entry was seen (bpftrace 0.23 reports deleting a missing key as an error).
      `if (@sain[tid]) {`,
      `  $c = cgroup; $n = (int64)args->__syscall_nr; $ret = (int64)args->ret;`,
      `  $a0 = @sa0[tid]; $a1 = @sa1[tid]; $a2 = @sa2[tid];`,
      ...RUNTIME_TEST.map((l) => `  ${l}`),
      `  ${countInto('setids', '$c, $n, $a0, $a1, $a2, $ret, $rt')}`,
      `  ${countInto('creds', `$c, ${credKey(route)}, $rt`)}`,
      '  delete(@sa0[tid]); delete(@sa1[tid]); delete(@sa2[tid]); delete(@sain[tid]);',
      `}`,
    ]),
  ];
}

/**
 * The capabilities part: needs the target cgroups (`@targets`, from the arming or targets part).
 * Cgroups already running when the program starts (seeds marked recording) are recorded at once.
 */
export function capsPart(t: ProgramTargets, arch: NodeArch, route: CapsRoute, dialect: Dialect): ProgramPart {
  const begin = [`${PHASE} = 0;`];
  for (const s of t.seeds) if (s.recording) begin.push(`${REC}[(uint64)${s.id}] = 1;`);
  // bpftrace refuses to compile a read of a map that is never assigned: keep one dead entry.
  begin.push(`${REC}[(uint64)0] = 0;`);
  // At a container's exec: the entrypoint's starts its recording; each exec's credentials and gains.
  const execBody = [
    `$c = cgroup;`,
    ...RUNTIME_TEST,
    `if (!${REC}[$c]) {`,
    `  ${REC}[$c] = 1; ${ENTRY}[pid] = 1; $rt = 0;`,
    `  printf("${EV_EXEC} %llu\\n", $c);`,
    `}`,
    // The exec ends the runtime's part: from here on the process is the exec'd program's own.
    `if ($rt) { ${EXECD}[pid] = 1; ${countInto('life', `$c, ${LIFE_EXEC_IN}, 0`)} }`,
    countInto('creds', `$c, ${credKey(route)}, 0`),
    `$ps = ${PORT_START};`,
    countInto('portStart', '$c, $ps'),
    // Compared only with credentials stashed at this exec's entry (none: nothing to compare).
    `if (@xin[tid]) {`,
    `  $eu = ${CRED}->euid.val; $eg = ${CRED}->egid.val; $cap = ${effective(route)};`,
    `  $oeu = @xeu[tid]; $oeg = @xeg[tid]; $ocap = @xcap[tid];`,
    // A gain only: the entrypoint of a non-root container loses its capabilities at exec.
    `  if ($eu != $oeu || $eg != $oeg || ($cap & ~$ocap) != 0) {`,
    `    $f = str(args->filename, ${PATH_STR});`,
    `    ${countInto('execs', '$c, $oeu, $eu, $oeg, $eg, $ocap, $cap, $f')}`,
    `  }`,
    `  ${UNSTASH}`,
    `}`,
  ];
  const probes = [
    ...['execve', 'execveat'].map((call) =>
      probe(`tracepoint:syscalls:sys_enter_${call} /@targets[cgroup]/`, [
        `@xeu[tid] = ${CRED}->euid.val; @xeg[tid] = ${CRED}->egid.val; @xcap[tid] = ${effective(route)};`,
        '@xin[tid] = 1;',
      ]),
    ),
    // The runtime's exec of itself (RUNTIME_SELF_EXEC) is none of the container's: only its stash goes.
    probe(`tracepoint:sched:sched_process_exec /@targets[cgroup]/`, [
      `if (${RUNTIME_SELF_EXEC}) {`,
      `  ${UNSTASH}`,
      `} else {`,
      ...execBody.map((l) => `  ${l}`),
      `}`,
    ]),
    ...checkProbes(route, arch, dialect),
    ...SETID_CALLS.flatMap(([call, fields]) => setidProbes(call, fields, route)),
    ...writeCalls(arch).flatMap(writeProbes),
    ...bindProbes(),
    // Delivered, so handled: a stop signal with the default action kills without being delivered
    // (and a container's pid 1 ignores it), which the entrypoint's exit status then shows.
    probe(`tracepoint:signal:signal_deliver /${REC}[cgroup]/`, [
      `if (${IS_STOP_SIGNAL}) { $c = cgroup; ${countInto('life', `$c, ${LIFE_STOP_SIGNAL}, 0`)} }`,
    ]),
  ];
  return {
    begin,
    probes,
    interval,
    end: [
      end,
      `clear(${REC}); clear(${ENTRY}); clear(${EXECD}); clear(${PHASE}); clear(@wptr); clear(@wroot); clear(@wwr); clear(@wdir); clear(@sa0); clear(@sa1); clear(@sa2); clear(@sain);`,
      'clear(@xeu); clear(@xeg); clear(@xcap); clear(@xin); clear(@bport);',
      ...(fromRegisters(arch, dialect) ? [] : [`clear(${IN_SYSCALL});`]),
      ...(route.checks === 'kprobe' ? ['clear(@ckcap); clear(@ckother);'] : []),
    ],
  };
}
