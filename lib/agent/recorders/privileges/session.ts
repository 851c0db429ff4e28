/**
 * What the plugin reads of a capabilities session: every node's privilege records, one per
 * container instance; the advice merges them per workload container (lib/securitycontext). Pure.
 */
import type { TraceSession } from '../../../session/types';
import type { PrivilegeRecord } from './types';

export function privilegeRecordsOf(s: Pick<TraceSession, 'status'>): PrivilegeRecord[] {
  return (s.status?.nodes ?? []).flatMap((n) => n.privileges ?? []);
}
