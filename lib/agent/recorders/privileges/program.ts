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
 * - The syscall a check ran in comes from a per-thread map filled at `raw_syscalls:sys_enter`,
 *   never from the registers at the top of the kernel stack: where they sit moves with FRED's stack
 *   padding, KASAN's larger stacks and arm64's page size.
 * - A capability set (`kernel_cap_t`) is one u64 `val` from Linux 6.3 and `__u32 cap[2]` before.
 * - `sched:sched_process_exec` runs after the new credentials are committed: `curtask->cred` is
 *   the new image's. The old ones are stashed at `sys_enter_execve[at]`; a gain (euid/egid change,
 *   or effective capabilities the old image did not have) is recorded with the file name.
 * - The set*id syscalls' tracepoints give their arguments at entry and the result at exit.
 * - Writes: open-family calls with a write flag are judged at exit by the opened file's mount
 *   (`file->f_path.mnt == curtask->fs->root.mnt`: exact). Path-only calls (mkdir, unlink, rename…)
 *   have no file: a relative path is judged by its directory's mount (exact for the directory; a
 *   relative path crossing into a mount below it is not seen), an absolute path is left to the
 *   pod's volume mounts in user space (inferred).
 *
 * Struct reads are written with explicit casts, which bpftrace 0.17 and 0.23 both accept.
 */
import type { NodeArch } from '../../../seccomp/names';
import { EV_EXEC, flippedMaps, type ProgramPart, type ProgramTargets } from '../../core/program';

/** Map pairs (flipped per interval like the syscall sets); key layouts are parsed in ./parse. */
export const CAPS_MAPS = {
  /** [cgroup, cap, granted, onBehalf, syscall nr] */
  checks: ['@capc0', '@capc1'],
  /** [cgroup, uid, gid, euid, egid, cap_effective] at each exec and after each set*id call */
  creds: ['@cred0', '@cred1'],
  /** [cgroup, syscall nr, arg0, arg1, arg2, ret] */
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
} as const;
export type CapsMapKind = keyof typeof CAPS_MAPS;

const PHASE = '@cphase';
/** Recording cgroups: from their entrypoint's exec (what runc does before is not the workload's). */
const REC = '@crec';
const AT_FDCWD = -100;
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

/** The syscall each thread of a recording cgroup is in, plus one (0: none): `raw_syscalls:sys_enter`'s. */
const IN_SYSCALL = '@cnr';

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

/** A task's effective capabilities as one u64, however the kernel's kernel_cap_t holds them. */
function effective(r: CapsRoute): string {
  const set = `${CRED}->cap_effective`;
  return r.capSet === 'val' ? `${set}.val` : `((uint64)${set}.cap[1] << 32 | (uint64)${set}.cap[0])`;
}

const credKey = (r: CapsRoute) =>
  `${CRED}->uid.val, ${CRED}->gid.val, ${CRED}->euid.val, ${CRED}->egid.val, ${effective(r)}`;

/** The probes that see each capability check, its result and the syscall it ran in. */
function checkProbes(r: CapsRoute): string[] {
  const nr = `$n = (int64)${IN_SYSCALL}[tid] - 1;`;
  const count = countInto('checks', '$c, $cap, $ok, $other, $n');
  const inSyscall = [
    probe(`tracepoint:raw_syscalls:sys_enter /${REC}[cgroup]/`, [`${IN_SYSCALL}[tid] = args->id + 1;`]),
    // Only an entry seen is deleted (bpftrace 0.23 reports deleting a missing key as an error).
    probe(`tracepoint:raw_syscalls:sys_exit /${REC}[cgroup]/`, [
      `if (${IN_SYSCALL}[tid]) { delete(${IN_SYSCALL}[tid]); }`,
    ]),
    // exit and exit_group never return: without this, each ended thread would keep an entry
    // until the map is full and later threads' checks lose their syscall.
    probe(`tracepoint:sched:sched_process_exit /${REC}[cgroup]/`, [
      `if (${IN_SYSCALL}[tid]) { delete(${IN_SYSCALL}[tid]); }`,
    ]),
  ];
  if (r.checks === 'tracepoint') {
    return [
      ...inSyscall,
      probe(`tracepoint:capability:cap_capable /${REC}[cgroup]/`, [
        `$c = cgroup; $cap = (int64)args->cap; $ok = args->ret == 0 ? 1 : 0;`,
        `$other = args->cred != curtask->real_cred ? 1 : 0;`,
        nr,
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
function relativeStart(w: WriteCall): string[] {
  // A dir fd is an int the tracepoint widens without sign: AT_FDCWD shows as 4294967196 unless cut back.
  const cwd = `$root = curtask->fs->pwd.mnt == curtask->fs->root.mnt ? 1 : 0; $dir = (uint64)curtask->fs->pwd.dentry;`;
  return [
    `$root = 2; $dir = (uint64)0;`,
    `if (strncmp(str(args->${w.path}, 2), "/", 1) != 0) {`,
    ...(w.dfd
      ? [
          `  if ((int32)args->${w.dfd} == ${AT_FDCWD}) { ${cwd} }`,
          `  if ((int32)args->${w.dfd} >= 0) {`,
          `    $df = (struct file *)*(curtask->files->fdt->fd + args->${w.dfd});`,
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
      ...relativeStart(w).map((l) => `  ${l}`),
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

/** Path-only calls (mkdir, unlink, rename…): no file at exit, so the mount is judged at entry. */
function pathProbes(w: WriteCall): string[] {
  // The path's user pointer is kept, not its text: it is still valid at exit, and one string on
  // the 512-byte BPF stack is all a probe can afford with STRLEN 200.
  const stash = [
    `@wptr[tid] = (uint64)args->${w.path};`,
    ...relativeStart(w),
    `@wroot[tid] = $root; @wdir[tid] = $dir;`,
  ];
  return [
    probe(`tracepoint:syscalls:sys_enter_${w.call} /${REC}[cgroup]/`, stash),
    // Only the stash of an entry seen is deleted: bpftrace 0.23 reports deleting a missing key.
    probe(`tracepoint:syscalls:sys_exit_${w.call} /${REC}[cgroup]/`, [
      `$ptr = @wptr[tid];`,
      `if ($ptr != 0) {`,
      `  if (args->ret == 0) {`,
      `    $c = cgroup; $n = (int64)args->__syscall_nr; $r = @wroot[tid]; $dir = @wdir[tid];`,
      `    ${countInto('writes', `$c, $n, $r, $dir, str(uptr($ptr), ${PATH_STR})`)}`,
      `  }`,
      `  delete(@wptr[tid]); delete(@wroot[tid]); delete(@wdir[tid]);`,
      `}`,
    ]),
  ];
}

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
      `  ${countInto('setids', '$c, $n, $a0, $a1, $a2, $ret')}`,
      `  ${countInto('creds', `$c, ${credKey(route)}`)}`,
      '  delete(@sa0[tid]); delete(@sa1[tid]); delete(@sa2[tid]); delete(@sain[tid]);',
      `}`,
    ]),
  ];
}

/**
 * The capabilities part: needs the target cgroups (`@targets`, from the arming or targets part).
 * Cgroups already running when the program starts (seeds marked recording) are recorded at once.
 */
export function capsPart(t: ProgramTargets, arch: NodeArch, route: CapsRoute): ProgramPart {
  const begin = [`${PHASE} = 0;`];
  for (const s of t.seeds) if (s.recording) begin.push(`${REC}[(uint64)${s.id}] = 1;`);
  // bpftrace refuses to compile a read of a map that is never assigned: keep one dead entry.
  begin.push(`${REC}[(uint64)0] = 0;`);
  const probes = [
    ...['execve', 'execveat'].map((call) =>
      probe(`tracepoint:syscalls:sys_enter_${call} /@targets[cgroup]/`, [
        `@xeu[tid] = ${CRED}->euid.val; @xeg[tid] = ${CRED}->egid.val; @xcap[tid] = ${effective(route)};`,
        '@xin[tid] = 1;',
      ]),
    ),
    probe(`tracepoint:sched:sched_process_exec /@targets[cgroup]/`, [
      `$c = cgroup;`,
      `if (!${REC}[$c]) {`,
      `  ${REC}[$c] = 1;`,
      `  printf("${EV_EXEC} %llu\\n", $c);`,
      `}`,
      countInto('creds', `$c, ${credKey(route)}`),
      // Compared only with credentials stashed at this exec's entry (none: nothing to compare).
      `if (@xin[tid]) {`,
      `  $eu = ${CRED}->euid.val; $eg = ${CRED}->egid.val; $cap = ${effective(route)};`,
      `  $oeu = @xeu[tid]; $oeg = @xeg[tid]; $ocap = @xcap[tid];`,
      // A gain only: the entrypoint of a non-root container loses its capabilities at exec.
      `  if ($eu != $oeu || $eg != $oeg || ($cap & ~$ocap) != 0) {`,
      `    $f = str(args->filename, ${PATH_STR});`,
      `    ${countInto('execs', '$c, $oeu, $eu, $oeg, $eg, $ocap, $cap, $f')}`,
      `  }`,
      '  delete(@xeu[tid]); delete(@xeg[tid]); delete(@xcap[tid]); delete(@xin[tid]);',
      `}`,
    ]),
    ...checkProbes(route),
    ...SETID_CALLS.flatMap(([call, fields]) => setidProbes(call, fields, route)),
    ...writeCalls(arch).flatMap(writeProbes),
  ];
  return {
    begin,
    probes,
    interval,
    end: [
      end,
      `clear(${REC}); clear(${PHASE}); clear(@wptr); clear(@wroot); clear(@wwr); clear(@wdir); clear(@sa0); clear(@sa1); clear(@sa2); clear(@sain);`,
      'clear(@xeu); clear(@xeg); clear(@xcap); clear(@xin);',
      `clear(${IN_SYSCALL});${route.checks === 'kprobe' ? ' clear(@ckcap); clear(@ckother);' : ''}`,
    ],
  };
}
