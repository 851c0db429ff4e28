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

/** A session's record as last written: all of it, all but its tallies, and when. */
interface WrittenRecord {
  all: StatusMemo;
  lasting: StatusMemo;
  at: number;
}

export class StatusWriter {
  private readonly records = new Map<string, WrittenRecord>();
  private readonly statuses = new Map<string, StatusMemo>();
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
    const last = this.records.get(key);
    if (last?.all.unchanged(record)) return false;
    if (last?.lasting.unchanged(record) && now - last.at < TALLY_WRITE_MS) return false;
    const stamped: NodeRecord = { ...record, lastFlush: new Date().toISOString() };
    const { namespace } = session.metadata;
    const name = recordName(session.metadata.name, this.node);
    await this.kube.apply(resourcePath(R.tracerecords, { namespace, name }), traceRecord(session, stamped), {
      fieldManager: this.manager,
    });
    const written: WrittenRecord = { all: new StatusMemo(), lasting: new StatusMemo(tallies), at: now };
    written.all.wrote(record);
    written.lasting.wrote(record);
    this.records.set(key, written);
    return true;
  }

  /** The session-wide part of the session's status, unless it is what was last written. */
  async writeStatus(session: Session, status: SessionWideStatus): Promise<boolean> {
    const key = sessionKey(session);
    const memo = this.statuses.get(key) ?? new StatusMemo();
    if (memo.unchanged(status)) return false;
    const { name, namespace } = session.metadata;
    await this.kube.apply(
      resourcePath(R.tracesessions, { namespace, name, subresource: 'status' }),
      { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status },
      { fieldManager: this.manager },
    );
    memo.wrote(status);
    this.statuses.set(key, memo);
    return true;
  }

  /** The session is gone: nothing of it to remember. */
  forget(session: Session): void {
    const key = sessionKey(session);
    this.records.delete(key);
    this.statuses.delete(key);
  }
}
