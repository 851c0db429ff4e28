/**
 * Writes what this node's agent knows of a session: its own record as a TraceRecord object of its
 * own (see lib/session/trace-records), and into the session's status only what every node decides
 * alike (a session-wide refusal). Both by server-side apply under this node's field manager, and
 * only when they changed (the time of writing alone is no reason to write). The one module that
 * knows where records go.
 */
import { ApiError, type Kube } from '../../kube/client';
import type { List } from '../../kube/objects';
import { R, resourcePath } from '../../kube/paths';
import {
  labelValue,
  NODE_LABEL,
  recordName,
  traceRecord,
  type TraceRecord,
} from '../../session/trace-records';
import {
  API_VERSION,
  KIND,
  type NodeRecord,
  type TraceSession,
  type TraceSessionStatus,
} from '../../session/types';
import { sessionKey } from './records';
import { StatusMemo } from './status-memo';

/** A node's record as written, less the time of writing. */
export type UnstampedRecord = Omit<NodeRecord, 'lastFlush'>;
/** The session-wide part of a status (a refusal every node makes alike). */
export type SessionWideStatus = Omit<TraceSessionStatus, 'nodes'>;

type Session = Pick<TraceSession, 'metadata'>;

/**
 * How long a change of tallies alone (counts, last-seen times: see Recorder.tallies) may wait to be
 * written. Busy targets change them every interval; written at once, every node would write every
 * flush. What they lose when the agent dies is counts, never what was seen.
 */
export const TALLY_WRITE_MS = 30_000;

/** A value with the keys named removed at every depth: what of a record is not a tally. */
export function withoutKeys(value: unknown, keys: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((v) => withoutKeys(v, keys));
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([k]) => !keys.has(k))
      .map(([k, v]) => [k, withoutKeys(v, keys)]),
  );
}

export class StatusWriter {
  private readonly memos = new Map<string, StatusMemo>();
  /** Per session: what of its record was last written apart from tallies, and when. */
  private readonly lasting = new Map<string, { memo: StatusMemo; at: number }>();
  private readonly manager: string;

  constructor(
    private readonly kube: Kube,
    private readonly node: string,
  ) {
    this.manager = `harden-agent/${node}`;
  }

  /**
   * What this node's agent wrote before it restarted, by the uid of the session that owns each
   * record: one list, whatever the number of sessions. None where TraceRecords are not installed.
   */
  async previous(): Promise<Map<string, NodeRecord>> {
    try {
      const list = await this.kube.get<List<TraceRecord>>(resourcePath(R.tracerecords), {
        labelSelector: `${NODE_LABEL}=${labelValue(this.node)}`,
      });
      const mine = list.items.filter((r) => r.record?.node === this.node);
      return new Map(
        mine.flatMap((r) => {
          const owner = r.metadata.ownerReferences?.find((o) => o.kind === KIND);
          return owner ? [[owner.uid, r.record] as const] : [];
        }),
      );
    } catch (e) {
      if (e instanceof ApiError && e.statusCode === 404) return new Map();
      throw e;
    }
  }

  /**
   * This node's record of the session, unless it is what was last written, or differs from it only
   * in `tallies` (keys) for less than TALLY_WRITE_MS.
   */
  async writeRecord(
    session: Session,
    record: UnstampedRecord,
    tallies: readonly string[] = [],
    now = Date.now(),
  ): Promise<boolean> {
    const key = sessionKey(session);
    const lasting = tallies.length ? withoutKeys(record, new Set(tallies)) : record;
    const last = this.lasting.get(key);
    if (last?.memo.unchanged(lasting) && now - last.at < TALLY_WRITE_MS) return false;
    const wrote = await this.once(`${key} record`, record, async () => {
      const stamped: NodeRecord = { ...record, lastFlush: new Date().toISOString() };
      const { namespace } = session.metadata;
      const name = recordName(session.metadata.name, this.node);
      await this.kube.apply(
        resourcePath(R.tracerecords, { namespace, name }),
        traceRecord(session, stamped),
        { fieldManager: this.manager },
      );
    });
    if (wrote || !last) {
      const memo = new StatusMemo();
      memo.wrote(lasting);
      this.lasting.set(key, { memo, at: now });
    }
    return wrote;
  }

  /** The session-wide part of the session's status, unless it is what was last written. */
  async writeStatus(session: Session, status: SessionWideStatus): Promise<boolean> {
    return this.once(`${sessionKey(session)} status`, status, async () => {
      const { name, namespace } = session.metadata;
      await this.kube.apply(
        resourcePath(R.tracesessions, { namespace, name, subresource: 'status' }),
        { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status },
        { fieldManager: this.manager },
      );
    });
  }

  private async once(key: string, content: unknown, write: () => Promise<void>): Promise<boolean> {
    const memo = this.memos.get(key) ?? new StatusMemo();
    if (memo.unchanged(content)) return false;
    await write();
    memo.wrote(content);
    this.memos.set(key, memo);
    return true;
  }

  /** The session is gone: nothing of it to remember. */
  forget(session: Session): void {
    const key = sessionKey(session);
    this.memos.delete(`${key} record`);
    this.memos.delete(`${key} status`);
    this.lasting.delete(key);
  }
}
