/**
 * What the plugin reads of a network session: every node's flows as one list, by identity (pod,
 * direction, protocol, addresses, ports: one reported twice counts once, its counts summed), and
 * the nodes whose table was full (some flows there are missing). Pure.
 */
import type { TraceSession } from '../../../session/types';
import { flowKey, type Flow } from './types';

export function flowsOf(s: Pick<TraceSession, 'status'>): { flows: Flow[]; truncatedOn: string[] } {
  const merged = new Map<string, Flow>();
  for (const node of s.status?.nodes ?? []) {
    for (const f of node.flows ?? []) {
      const seen = merged.get(flowKey(f));
      if (!seen) merged.set(flowKey(f), { ...f });
      else {
        seen.count += f.count;
        if (f.firstSeen < seen.firstSeen) seen.firstSeen = f.firstSeen;
        if (f.lastSeen > seen.lastSeen) seen.lastSeen = f.lastSeen;
      }
    }
  }
  const flows = [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, f]) => f);
  const truncatedOn = (s.status?.nodes ?? []).filter((n) => n.truncated).map((n) => n.node);
  return { flows, truncatedOn };
}
