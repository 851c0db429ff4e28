/**
 * Syscall numbers → names, per node architecture, from tables generated out of libseccomp
 * (scripts/gen-syscall-tables). Only numbers libseccomp knows are named: an unknown number is an
 * error, never a guess, because a profile with a made-up name is either rejected or wrong.
 */
import x86_64 from './tables/x86_64.json';
import aarch64 from './tables/aarch64.json';

/** Node architectures (GOARCH, as node.status.nodeInfo.architecture) with a syscall table. */
export const NODE_ARCHES = ['amd64', 'arm64'] as const;
export type NodeArch = (typeof NODE_ARCHES)[number];

export function isNodeArch(arch: string): arch is NodeArch {
  return (NODE_ARCHES as readonly string[]).includes(arch);
}

interface SyscallTable {
  libseccomp: string;
  arch: string;
  syscalls: Record<string, string>;
}

// Node architectures (GOARCH, as in node.status.nodeInfo.architecture) → libseccomp's tables.
const TABLES: Record<NodeArch, SyscallTable> = { amd64: x86_64, arm64: aarch64 };

export class UnknownSyscallError extends Error {
  constructor(
    readonly arch: NodeArch,
    readonly numbers: readonly number[],
  ) {
    const table = TABLES[arch];
    super(
      `unknown syscall number${numbers.length > 1 ? 's' : ''} ${numbers.join(', ')} on ${arch} ` +
        `(${table.arch}, libseccomp ${table.libseccomp} table); regenerate lib/seccomp/tables with ` +
        `scripts/gen-syscall-tables from a newer libseccomp`,
    );
    this.name = 'UnknownSyscallError';
  }
}

function tableFor(arch: NodeArch): SyscallTable {
  // Callers pass data from the API server, so an unexpected arch must fail loudly, not index undefined.
  if (!isNodeArch(arch))
    throw new Error(
      `unsupported node architecture ${JSON.stringify(arch)} (supported: ${NODE_ARCHES.join(', ')})`,
    );
  return TABLES[arch];
}

function lookup(table: SyscallTable, nr: number): string | undefined {
  if (!Number.isInteger(nr) || nr < 0) return undefined;
  return Object.prototype.hasOwnProperty.call(table.syscalls, String(nr)) ? table.syscalls[nr] : undefined;
}

export function syscallName(arch: NodeArch, nr: number): string {
  const name = lookup(tableFor(arch), nr);
  if (name === undefined) throw new UnknownSyscallError(arch, [nr]);
  return name;
}

/** Sorted unique names; every unknown number is reported in one error, so one run shows them all. */
export function namesFor(arch: NodeArch, numbers: Iterable<number>): string[] {
  const table = tableFor(arch);
  const names = new Set<string>();
  const unknown = new Set<number>();
  for (const nr of numbers) {
    const name = lookup(table, nr);
    if (name === undefined) unknown.add(nr);
    else names.add(name);
  }
  if (unknown.size > 0)
    throw new UnknownSyscallError(
      arch,
      [...unknown].sort((a, b) => a - b),
    );
  return [...names].sort();
}

/** Whether libseccomp knows this name on this architecture (e.g. `select` exists on amd64 only). */
export function hasSyscallName(arch: NodeArch, name: string): boolean {
  return namesOf(arch).has(name);
}

const nameSets = new Map<NodeArch, Set<string>>();
function namesOf(arch: NodeArch): Set<string> {
  let set = nameSets.get(arch);
  if (!set) {
    set = new Set(Object.values(tableFor(arch).syscalls));
    nameSets.set(arch, set);
  }
  return set;
}

/** The libseccomp version each table was generated from, for diagnostics. */
export function tableVersion(arch: NodeArch): string {
  return tableFor(arch).libseccomp;
}
