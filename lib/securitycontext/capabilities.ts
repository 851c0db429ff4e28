/**
 * Which capability checks a container needed. Pure.
 *
 * The cap_capable tracepoint does not say whether a check was a "noaudit" probe (the kernel asking
 * on the process's behalf to choose a behaviour, not to permit an action). What tells them apart
 * here, and how sure it is:
 * - not granted → the workload ran without it: never needed (exact — it did not have it);
 * - made with credentials other than the task's own (`onBehalf`): access()/faccessat() evaluate
 *   with overridden credentials, and overlayfs copies up with its mounter's: not the container's
 *   (exact about the credentials, inferred about the purpose);
 * - outside any syscall (page faults, kernel work on its behalf): incidental (inferred);
 * - CAP_SYS_ADMIN inside memory-mapping and exec calls: the overcommit accounting probe every
 *   mmap/brk makes (security_vm_enough_memory_mm, verified with kernel stacks on Linux 6.18):
 *   incidental (inferred from the syscall);
 * - anything else granted → needed (a check the workload passed only thanks to the capability).
 */
import type { PrivilegeRecord } from '../agent/recorders/privileges/types';

type Check = PrivilegeRecord['capChecks'][number];

const VM_ACCOUNTING = new Set([
  'mmap',
  'mmap2',
  'brk',
  'mremap',
  'mprotect',
  'munmap',
  'execve',
  'execveat',
  'clone',
  'clone3',
  'fork',
  'vfork',
  'shmat',
  'shmget',
]);

export type CheckVerdict = { needed: true } | { needed: false; why: string };

export function judgeCheck(c: Pick<Check, 'capability' | 'syscall' | 'granted' | 'onBehalf'>): CheckVerdict {
  if (!c.granted) return { needed: false, why: 'denied, and the workload ran without it' };
  if (c.onBehalf)
    return { needed: false, why: 'checked with overridden credentials (access() or overlayfs)' };
  if (c.syscall === '(none)') return { needed: false, why: 'checked outside any syscall' };
  if (c.capability === 'CAP_SYS_ADMIN' && VM_ACCOUNTING.has(c.syscall)) {
    return { needed: false, why: `memory accounting probe in ${c.syscall}` };
  }
  return { needed: true };
}

export interface CapabilityUse {
  capability: string;
  /** Syscalls whose checks needed it, sorted. */
  syscalls: string[];
  count: number;
}

/** Needed capabilities (sorted by name) and the incidental or denied checks, summarised. */
export function classifyChecks(checks: Check[]): { needed: CapabilityUse[]; ignored: string[] } {
  const needed = new Map<string, CapabilityUse>();
  const ignored = new Map<string, number>();
  for (const c of checks) {
    const v = judgeCheck(c);
    if (v.needed) {
      const u = needed.get(c.capability) ?? { capability: c.capability, syscalls: [], count: 0 };
      if (!u.syscalls.includes(c.syscall)) u.syscalls = [...u.syscalls, c.syscall].sort();
      u.count += c.count;
      needed.set(c.capability, u);
    } else {
      const line = `${c.capability} in ${c.syscall}: ${v.why}`;
      ignored.set(line, (ignored.get(line) ?? 0) + c.count);
    }
  }
  return {
    needed: [...needed.values()].sort((a, b) => a.capability.localeCompare(b.capability)),
    ignored: [...ignored.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([l, n]) => `${l} (${n}×)`),
  };
}

/** The capability name Kubernetes uses in capabilities.add/drop: without the CAP_ prefix. */
export const k8sCapability = (name: string): string => name.replace(/^CAP_/, '');
