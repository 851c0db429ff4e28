// Syscall numbers for tests that read raw numbers off the host's kernel: the host's own numbers,
// from the libseccomp tables the profiles use, so they are never x86_64's on another machine.
import { NODE_ARCHES, type NodeArch } from '../../lib/seccomp/names';
import x86_64 from '../../lib/seccomp/tables/x86_64.json';
import aarch64 from '../../lib/seccomp/tables/aarch64.json';

const HOST_ARCH: Record<string, NodeArch> = { x64: 'amd64', arm64: 'arm64' };
const TABLES: Record<NodeArch, { syscalls: Record<string, string> }> = { amd64: x86_64, arm64: aarch64 };

export function hostArch(): NodeArch {
  const arch = HOST_ARCH[process.arch];
  if (!arch) {
    throw new Error(
      `no syscall table for this host's architecture ${process.arch} (have: ${NODE_ARCHES.join(', ')})`,
    );
  }
  return arch;
}

/** The host's number for each name; undefined where the architecture lacks the call (mkdir on arm64). */
export function hostSyscalls<N extends string>(...names: N[]): Record<N, number | undefined> {
  const table = TABLES[hostArch()].syscalls;
  const out = {} as Record<N, number | undefined>;
  for (const name of names) {
    const nr = Object.keys(table).find((k) => table[k] === name);
    out[name] = nr === undefined ? undefined : Number(nr);
  }
  return out;
}

/** Whether the host's architecture has a syscall of this number. */
export function isHostSyscall(nr: number): boolean {
  return String(nr) in TABLES[hostArch()].syscalls;
}
