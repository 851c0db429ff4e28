// What the plugin reads of each kind's session, across nodes: the pieces its per-kind commands use.
import { flowsOf } from '../../../../lib/agent/recorders/network/session';
import type { Flow } from '../../../../lib/agent/recorders/network/types';
import { privilegeRecordsOf } from '../../../../lib/agent/recorders/privileges/session';
import { syscallRecordsOf } from '../../../../lib/agent/recorders/syscalls/session';
import type { NodeRecord } from '../../../../lib/session/types';
import { agentEntry } from '../../fake-cluster';

const node = (name: string, arch: string, over: Partial<NodeRecord>): NodeRecord => ({
  ...agentEntry(true, over),
  node: name,
  arch,
});
const who = { pod: 'web-1', podUID: 'u1', container: 'nginx', recordedFromStart: true, filterSeen: false };
const flow = (count: number, firstSeen: string, lastSeen: string): Flow => ({
  pod: 'web-1',
  direction: 'egress',
  proto: 'UDP',
  localIP: '10.244.0.5',
  localPort: 0,
  remoteIP: '10.96.0.10',
  remotePort: 53,
  count,
  firstSeen,
  lastSeen,
});

test("syscall records carry their node's architecture; a record without numbers has none", () => {
  const status = {
    nodes: [
      node('a', 'amd64', { containers: [{ ...who, containerID: 'c1', syscalls: [0, 1] }] }),
      node('b', 'arm64', { containers: [{ ...who, containerID: 'c2' }] }),
    ],
  };
  expect(syscallRecordsOf({ status }).map((r) => [r.node, r.arch, r.containerID, r.syscalls])).toEqual([
    ['a', 'amd64', 'c1', [0, 1]],
    ['b', 'arm64', 'c2', []],
  ]);
});

test('a flow reported twice is one flow, its counts summed and its span the widest; full tables are named', () => {
  const status = {
    nodes: [
      node('a', 'amd64', { flows: [flow(2, '2025-01-01T00:00:01Z', '2025-01-01T00:00:05Z')] }),
      node('b', 'amd64', {
        flows: [flow(3, '2025-01-01T00:00:00Z', '2025-01-01T00:00:04Z')],
        truncated: true,
      }),
    ],
  };
  expect(flowsOf({ status })).toEqual({
    flows: [flow(5, '2025-01-01T00:00:00Z', '2025-01-01T00:00:05Z')],
    truncatedOn: ['b'],
  });
});

test('privilege records of every node', () => {
  const rec = (containerID: string) => ({
    ...who,
    containerID,
    mounts: [],
    credentials: [],
    idChanges: [],
    capChecks: [],
    execs: [],
    writes: [],
  });
  const status = {
    nodes: [node('a', 'amd64', { privileges: [rec('c1')] }), node('b', 'amd64', { privileges: [rec('c2')] })],
  };
  expect(privilegeRecordsOf({ status }).map((r) => r.containerID)).toEqual(['c1', 'c2']);
});
