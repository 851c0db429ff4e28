/**
 * A session as the plugin reads it: the TraceSession with its nodes' TraceRecords in status.nodes,
 * both read through kubectl from the test cluster.
 */
import {
  assembleSession,
  labelValue,
  SESSION_LABEL,
  type TraceRecord,
} from '../../lib/session/trace-records';
import type { TraceSession } from '../../lib/session/types';
import { kubectlJson } from './exec';

export async function sessionWithRecords<T = TraceSession>(namespace: string, name: string): Promise<T> {
  const [session, records] = await Promise.all([
    kubectlJson<TraceSession>(['get', 'tracesession', name, '-n', namespace]),
    kubectlJson<{ items: TraceRecord[] }>([
      'get',
      'tracerecords',
      '-n',
      namespace,
      '-l',
      `${SESSION_LABEL}=${labelValue(name)}`,
    ]),
  ]);
  return assembleSession(session, records.items) as unknown as T;
}
