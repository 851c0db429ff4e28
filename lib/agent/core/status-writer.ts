/**
 * Writes this node's part of a session's status: one entry per node, owned by this node's field
 * manager through server-side apply, so agents never overwrite each other; and only when it
 * changed (every write comes back through every agent's watch). The one module that knows where
 * records go, so they can move (e.g. to per-node objects) without the controller noticing.
 */
import type { Kube } from '../../kube/client';
import { R, resourcePath } from '../../kube/paths';
import {
  API_VERSION,
  KIND,
  type NodeRecord,
  type TraceSession,
  type TraceSessionStatus,
} from '../../session/types';
import { sessionKey } from './records';
import { StatusMemo } from './status-memo';

/** A status as written, less the time of writing (which alone is no reason to write). */
export type UnstampedStatus = Omit<TraceSessionStatus, 'nodes'> & { nodes?: Omit<NodeRecord, 'lastFlush'>[] };

export class StatusWriter {
  private readonly memos = new Map<string, StatusMemo>();

  constructor(
    private readonly kube: Kube,
    private readonly node: string,
  ) {}

  /** Server-side apply of the status, unless it is what was last written for the session. */
  async write(session: Pick<TraceSession, 'metadata'>, status: UnstampedStatus): Promise<boolean> {
    const key = sessionKey(session);
    const memo = this.memos.get(key) ?? new StatusMemo();
    if (memo.unchanged(status)) return false;
    const { name, namespace } = session.metadata;
    const stamp = new Date().toISOString();
    await this.kube.apply(
      resourcePath(R.tracesessions, { namespace, name, subresource: 'status' }),
      {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name, namespace },
        status: { ...status, nodes: status.nodes?.map((n): NodeRecord => ({ ...n, lastFlush: stamp })) },
      },
      { fieldManager: `harden-agent/${this.node}` },
    );
    memo.wrote(status);
    this.memos.set(key, memo);
    return true;
  }

  /** The session is gone: nothing of it to remember. */
  forget(session: Pick<TraceSession, 'metadata'>): void {
    this.memos.delete(sessionKey(session));
  }
}
