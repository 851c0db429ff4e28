/**
 * Which bpftrace the agent runs, and the program variant ("dialect") that version needs. Probed
 * once at agent start; a version whose programs were never tested is refused with a clear reason
 * rather than run into compile errors or, worse, silently wrong data.
 *
 * The differences that matter, each verified on Linux 6.18:
 * - 0.23.0–0.23.5 read `args->path` of `tracepoint:cgroup:cgroup_mkdir` from the wrong offset
 *   (fixed in 0.24.0), so new cgroups would never be armed; the raw tracepoint with the BTF-typed
 *   `struct cgroup *` works there, but 0.17 cannot attach `rawtracepoint:` probes at all.
 * - Every syscall's entry (and, for capabilities, exit) is probed. 0.23 attaches the raw
 *   tracepoints `sys_enter`/`sys_exit`, whose programs get the syscall number as an argument;
 *   `tracepoint:raw_syscalls:*` first copies all six syscall arguments into a perf buffer for
 *   every call, which alone cost ≈ 4× an empty raw tracepoint program here (BENCHMARKS.md §1).
 * - 0.23 deprecates BPFTRACE_STRLEN/BPFTRACE_MAP_KEYS_MAX (a warning on every start) in favour
 *   of a `config = { … }` block, which 0.17 cannot parse.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BpftraceError } from './bpftrace-error';

export interface Dialect {
  /** The bpftrace minor series this variant was tested with, e.g. "0.23". */
  series: string;
  /** How a new cgroup's id and path are read when it is made. */
  cgroupMkdir: 'tracepoint' | 'rawtracepoint';
  /** How every syscall's entry and exit are probed (see rawSyscallProbe). */
  syscalls: 'tracepoint' | 'rawtracepoint';
  /** How string and map limits are set: environment variables or the program's config block. */
  settings: 'env' | 'config';
  /**
   * Longest string printed whole (a new cgroup's path; longer ones are cut). 200 is 0.17's
   * maximum and fits a systemd-driver containerd scope path (~192); 0.23 allows room for a node
   * whose kubepods tree is itself nested (kind, a container's own cgroup namespace root).
   */
  maxStrlen: number;
  /** What `str(p, n)` reads: n characters (0.17), or n bytes counting the terminating NUL (0.23). */
  strLength: 'chars' | 'bytes';
  /**
   * Measured on the node by probeBpftrace, never assumed (absent in the table below): how far a
   * task's saved user registers (task_pt_regs) lie above its kernel stack's base
   * (task_struct.stack). Their place moves with FRED's stack padding, KASAN's larger stacks and
   * arm64's page size, so it is read off the kernel itself: the raw sys_enter tracepoint is handed
   * exactly those registers. Programs get it as bpftrace's first positional parameter.
   */
  userRegs?: number;
}

/** Tested series: Debian bookworm's 0.17 and trixie's 0.23 (the agent image's). */
export const DIALECTS: readonly Dialect[] = [
  {
    series: '0.17',
    cgroupMkdir: 'tracepoint',
    syscalls: 'tracepoint',
    settings: 'env',
    maxStrlen: 200,
    strLength: 'chars',
  },
  {
    series: '0.23',
    cgroupMkdir: 'rawtracepoint',
    syscalls: 'rawtracepoint',
    settings: 'config',
    maxStrlen: 512,
    strLength: 'bytes',
  },
];

export const SUPPORTED = DIALECTS.map((d) => `${d.series}.x`).join(' and ');

/** "bpftrace v0.23.2" (also "v0.17.0-rc1", or a distribution suffix) → "0.23.2". */
export function parseVersion(text: string): string | undefined {
  return /\bv?(\d+\.\d+\.\d+)/.exec(text)?.[1];
}

/** The dialect for a `bpftrace --version` output; a BpftraceError (reason UnsupportedVersion) if none. */
export function dialectFor(versionText: string): Dialect | BpftraceError {
  const version = parseVersion(versionText);
  const series = version?.split('.').slice(0, 2).join('.');
  const dialect = DIALECTS.find((d) => d.series === series);
  if (dialect) return dialect;
  const what = version
    ? `bpftrace v${version}`
    : `bpftrace of unknown version (${JSON.stringify(versionText)})`;
  return new BpftraceError(
    `${what} is not supported: the agent's programs are tested with bpftrace ${SUPPORTED}; run the agent image of this release, whose bpftrace is supported`,
    '',
    'UnsupportedVersion',
  );
}

/** `bpftrace --info` says whether the kernel has BTF, which every program needs (`curtask`, casts). */
export function btfProblem(info: string): BpftraceError | undefined {
  // 0.17 prints "  btf: yes" on its own line, 0.23 in a column next to another feature; "module btf" is another.
  if (/(?:^|\s{2})btf: yes\b/m.test(info)) return undefined;
  return new BpftraceError(
    'bpftrace finds no kernel BTF (`bpftrace --info` says "btf: no"): the agent needs /sys/kernel/btf/vmlinux, a kernel built with CONFIG_DEBUG_INFO_BTF, mounted into its pod',
    '',
    'NoKernelBTF',
  );
}

/** `bpftrace --info` says whether fentry probes attach here (0.17 names them kfunc); undefined if it does not say. */
export function fentryOf(info: string): boolean | undefined {
  const m = /(?:^|\s{2})(?:fentry|kfunc): (yes|no)\b/m.exec(info);
  return m ? m[1] === 'yes' : undefined;
}

/**
 * One syscall's entry, once: the distance from the calling task's stack base to the registers the
 * raw tracepoint is given, which for every task is where its user registers are saved.
 */
const USER_REGS_PROBE = 'rawtracepoint:sys_enter';
export const USER_REGS_PROGRAM = `${USER_REGS_PROBE} { printf("harden:regs %lld\\n", (int64)((uint64)arg0 - (uint64)curtask->stack)); exit(); }`;

/** The offset USER_REGS_PROGRAM printed; undefined unless it is a plausible one (inside a stack of at most 1 MiB, word-aligned). */
export function parseUserRegs(out: string): number | undefined {
  const m = /^harden:regs (\d+)$/m.exec(out);
  const n = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(n) && n > 0 && n < 1 << 20 && n % 8 === 0 ? n : undefined;
}

export interface BpftraceProbe {
  binary: string;
  /** What `bpftrace --version` printed, or why it could not be run. */
  version: string;
  /** The program variant; absent when this bpftrace cannot be used (then `problem` says why). */
  dialect?: Dialect;
  problem?: BpftraceError;
  /** Whether the kernel attaches fentry probes, as bpftrace tested it. */
  fentry?: boolean;
}

/**
 * Runs `binary --version` and `binary --info` once, and where the dialect takes it measures
 * `userRegs` (unless its probe is deny-listed, see ./kernel); never throws.
 */
export async function probeBpftrace(
  binary = 'bpftrace',
  deny: readonly string[] = [],
): Promise<BpftraceProbe> {
  // 0.17 prints --info on stderr, 0.23 on stdout.
  const run = async (...args: string[]) => {
    const { stdout, stderr } = await promisify(execFile)(binary, args, { timeout: 30_000 });
    return `${stdout}${stderr}`;
  };
  let version: string;
  try {
    const out = await run('--version');
    version = (out.split('\n').find((l) => parseVersion(l)) ?? out).trim();
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    return {
      binary,
      version: `unavailable (${why})`,
      problem: new BpftraceError(`${binary} cannot be run: ${why}`, '', 'BpftraceMissing'),
    };
  }
  const dialect = dialectFor(version);
  if (dialect instanceof BpftraceError) return { binary, version, problem: dialect };
  let info: string;
  try {
    info = await run('--info');
  } catch (e) {
    const out = e as { stdout?: string; stderr?: string };
    info = `${out.stdout ?? ''}${out.stderr ?? ''}`;
  }
  const problem = btfProblem(info);
  const fentry = fentryOf(info);
  if (problem) return { binary, version, problem, fentry };
  if (dialect.syscalls !== 'rawtracepoint' || deny.includes(USER_REGS_PROBE))
    return { binary, version, dialect, fentry };
  // Without it the capabilities recorder follows syscalls with a probe on each (slower, as exact).
  let out: string;
  try {
    out = await run('-e', USER_REGS_PROGRAM);
  } catch (e) {
    out = (e as { stdout?: string }).stdout ?? '';
  }
  const userRegs = parseUserRegs(out);
  return { binary, version, dialect: userRegs === undefined ? dialect : { ...dialect, userRegs }, fentry };
}
