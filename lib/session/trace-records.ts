/**
 * Where each node's record of a session lives: a TraceRecord of its own in the session's namespace,
 * written only by that node's agent and owned by the session (the garbage collector deletes it with
 * the session). One shared status could not carry thousands of nodes (etcd keeps an object under
 * 1.5 MiB) and every write of it went to every agent's session watch; a node's own object is bounded
 * by that node's record and is watched by no agent. Readers still see a session with status.nodes,
 * assembled here from its records, so phases, gaps and profiles are computed as before. Pure.
 */
import { createHash } from 'node:crypto';
import { API_VERSION, KIND, type NodeRecord, type ObjectMeta, type TraceSession } from './types';

export const RECORD_KIND = 'TraceRecord';
/** Which session a record belongs to (the session's name, or its digest when too long for a label). */
export const SESSION_LABEL = 'harden.dev/session';
/** Which node wrote it (likewise), so a restarted agent finds its own records in one list. */
export const NODE_LABEL = 'harden.dev/node';

export interface TraceRecord {
  apiVersion: typeof API_VERSION;
  kind: typeof RECORD_KIND;
  metadata: ObjectMeta;
  /** The node's part of the session, as it was status.nodes[] of the session. */
  record: NodeRecord;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

/** A name as a label value: itself when it fits (63 characters), else its digest. */
export function labelValue(name: string): string {
  return name.length <= 63 ? name : digest(name).slice(0, 63);
}

/** `<session>.<node>`, a DNS subdomain like both; the node's digest when that passes 253 characters. */
export function recordName(session: string, node: string): string {
  const joined = `${session}.${node}`;
  if (joined.length <= 253) return joined;
  return `${session.slice(0, 180).replace(/[.-]+$/, '')}.${digest(node).slice(0, 64)}`;
}

/** The record object a node writes for a session: labelled for its readers, owned by the session. */
export function traceRecord(session: Pick<TraceSession, 'metadata'>, record: NodeRecord): TraceRecord {
  const { name, namespace, uid } = session.metadata;
  return {
    apiVersion: API_VERSION,
    kind: RECORD_KIND,
    metadata: {
      name: recordName(name, record.node),
      namespace,
      labels: {
        'app.kubernetes.io/managed-by': 'kubectl-harden',
        [SESSION_LABEL]: labelValue(name),
        [NODE_LABEL]: labelValue(record.node),
      },
      ...(uid ? { ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name, uid }] } : {}),
    },
    record,
  };
}

/** The session a record belongs to, by uid when it has an owner: a session re-made under the same name owns none. */
export function ownedBy(r: Pick<TraceRecord, 'metadata'>, s: Pick<TraceSession, 'metadata'>): boolean {
  if (r.metadata.namespace !== s.metadata.namespace) return false;
  if (r.metadata.labels?.[SESSION_LABEL] !== labelValue(s.metadata.name)) return false;
  const owner = r.metadata.ownerReferences?.find((o) => o.kind === KIND);
  return !owner || !s.metadata.uid || owner.uid === s.metadata.uid;
}

/**
 * The session as its readers know it: status.nodes one entry per node, from its records. An entry
 * an agent of an earlier release wrote into the status itself stays, unless that node has a record.
 */
export function assembleSession(s: TraceSession, records: readonly TraceRecord[]): TraceSession {
  const nodes = new Map((s.status?.nodes ?? []).map((n) => [n.node, n]));
  for (const r of records) if (r.record && ownedBy(r, s)) nodes.set(r.record.node, r.record);
  if (!nodes.size) return s;
  const sorted = [...nodes.values()].sort((a, b) => a.node.localeCompare(b.node));
  return { ...s, status: { ...s.status, nodes: sorted } };
}
