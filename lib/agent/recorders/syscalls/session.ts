/**
 * What the plugin reads of a seccomp session: every node's container records, each with the
 * node's architecture (a profile's architectures are its nodes'). Profiles merge them across
 * replicas and nodes (lib/seccomp/profile.ts). Pure.
 */
import type { ContainerRecord, NodeRecord, TraceSession } from '../../../session/types';

export type SyscallRecord = ContainerRecord & Pick<NodeRecord, 'node' | 'arch'> & { syscalls: number[] };

export function syscallRecordsOf(s: Pick<TraceSession, 'status'>): SyscallRecord[] {
  return (s.status?.nodes ?? []).flatMap(({ node, arch, containers }) =>
    (containers ?? []).map((c) => ({ ...c, node, arch, syscalls: c.syscalls ?? [] })),
  );
}
