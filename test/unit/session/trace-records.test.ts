import { R, resourcePath } from '../../../lib/kube/paths';
import { findSession, getSession, listSessions } from '../../../lib/session/client';
import { sessionPhase } from '../../../lib/session/phase';
import {
  assembleSession,
  labelValue,
  recordName,
  traceRecord,
  type TraceRecord,
} from '../../../lib/session/trace-records';
import type { NodeRecord, TraceSession } from '../../../lib/session/types';
import { agentEntry, FakeCluster } from '../fake-cluster';

const session = (name: string, uid: string, nodes?: NodeRecord[]): TraceSession => ({
  apiVersion: 'harden.dev/v1alpha1',
  kind: 'TraceSession',
  metadata: { name, namespace: 'web', uid, labels: { 'harden.dev/type': 'seccomp' } },
  spec: { type: 'seccomp', target: { selector: { matchLabels: { app: 'web' } } }, state: 'Running' },
  ...(nodes ? { status: { nodes } } : {}),
});

const entry = (node: string, phase: NodeRecord['phase']): NodeRecord => ({
  ...agentEntry(phase === 'Completed'),
  node,
  phase,
});

describe('names', () => {
  test('a record is named <session>.<node>, a DNS subdomain; too long, the node is its digest', () => {
    expect(recordName('sc-4f7k2', 'ip-10-0-1-2.ec2.internal')).toBe('sc-4f7k2.ip-10-0-1-2.ec2.internal');
    const long = recordName('s'.repeat(200), 'n'.repeat(100));
    expect(long.length).toBeLessThanOrEqual(253);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    // Two nodes never share a record, however long their names.
    expect(recordName('s'.repeat(200), `${'n'.repeat(99)}a`)).not.toBe(long);
  });

  test('labels hold a name as it is up to 63 characters, else its digest', () => {
    expect(labelValue('worker-1')).toBe('worker-1');
    expect(labelValue('x'.repeat(64))).toMatch(/^[0-9a-f]{63}$/);
  });

  test("a record is labelled for its session and node and owned by the session's uid", () => {
    const r = traceRecord(session('sc-1', 'u-1'), entry('worker-1', 'Tracing'));
    expect(r.metadata).toMatchObject({
      name: 'sc-1.worker-1',
      namespace: 'web',
      labels: { 'harden.dev/session': 'sc-1', 'harden.dev/node': 'worker-1' },
      ownerReferences: [
        { apiVersion: 'harden.dev/v1alpha1', kind: 'TraceSession', name: 'sc-1', uid: 'u-1' },
      ],
    });
  });
});

describe('a session as its readers see it', () => {
  test("status.nodes is its records, one per node, by name; the phase is derived from every node's", () => {
    const s = session('sc-1', 'u-1');
    const records = [
      traceRecord(s, entry('worker-2', 'Pending')),
      traceRecord(s, entry('worker-1', 'Tracing')),
    ];
    const seen = assembleSession(s, records);
    expect(seen.status?.nodes?.map((n) => n.node)).toEqual(['worker-1', 'worker-2']);
    expect(sessionPhase(seen)).toBe('Pending');
  });

  test("a session re-made under the same name owns none of the old one's records", () => {
    const old = traceRecord(session('sc-1', 'u-old'), entry('worker-1', 'Completed'));
    const other = traceRecord(session('sc-2', 'u-2'), entry('worker-1', 'Tracing'));
    const seen = assembleSession(session('sc-1', 'u-new'), [old, other]);
    expect(seen.status?.nodes).toBeUndefined();
    expect(sessionPhase(seen)).toBe('Pending');
  });

  test("an entry an older agent wrote into the status stays, unless that node's record replaces it", () => {
    const s = session('sc-1', 'u-1', [entry('old-node', 'Tracing'), entry('worker-1', 'Pending')]);
    const seen = assembleSession(s, [traceRecord(s, entry('worker-1', 'Tracing'))]);
    expect(seen.status?.nodes?.map((n) => [n.node, n.phase])).toEqual([
      ['old-node', 'Tracing'],
      ['worker-1', 'Tracing'],
    ]);
  });
});

describe('reading sessions from the API', () => {
  const put = (c: FakeCluster, r: TraceRecord) => c.put(R.tracerecords, r);

  test('get, find and list read the records of the sessions asked for, by one list each', async () => {
    const c = new FakeCluster();
    const s1 = session('sc-1', 'u-1');
    const s2 = session('sc-2', 'u-2');
    c.put(R.tracesessions, s1);
    c.put(R.tracesessions, s2);
    put(c, traceRecord(s1, entry('worker-1', 'Tracing')));
    put(c, traceRecord(s1, entry('worker-2', 'Tracing')));
    put(c, traceRecord(s2, entry('worker-1', 'Completed')));
    const kube = c.kube('web');
    const got = await getSession(kube, 'web', 'sc-1', 'seccomp');
    expect(got.status?.nodes?.map((n) => n.node)).toEqual(['worker-1', 'worker-2']);
    expect((await findSession(kube, 'web', 'sc-2'))?.status?.nodes?.map((n) => n.phase)).toEqual([
      'Completed',
    ]);
    expect(await findSession(kube, 'web', 'sc-3')).toBeUndefined();
    const before = c.requests.length;
    const listed = await listSessions(kube, 'web', 'seccomp');
    expect(listed.map((s) => [s.metadata.name, sessionPhase(s)])).toEqual([
      ['sc-1', 'Tracing'],
      ['sc-2', 'Completed'],
    ]);
    expect(c.requests.slice(before)).toEqual([
      `GET ${resourcePath(R.tracesessions, { namespace: 'web' })}`,
      `GET ${resourcePath(R.tracerecords, { namespace: 'web' })}`,
    ]);
  });
});
