import * as fs from 'node:fs';
import * as path from 'node:path';
import { normalizeIP, parseNetLine, type FlowRecord } from '../../../../../lib/agent/recorders/network/parse';
import { FlowTable } from '../../../../../lib/agent/recorders/network/record';
import { traceSessionCrd } from '../../../../../lib/deploy/crd';
import { expectGolden, GOLDEN_DIR, goldenJson } from '../../../golden';

/** Captured from test/e2e/net-program.test.ts (CAPTURE_NET_OUTPUT): cgroup 5649 is the traced client. */
const captured = fs
  .readFileSync(path.join(GOLDEN_DIR, 'agent-net/bpftrace-0.17-net-output.jsonl'), 'utf8')
  .split('\n');

const clock = () => new Date('2025-01-01T00:00:00Z');
const pods = new Map([
  ['10.250.0.1', 'server'],
  ['fd00:250::1', 'server'],
  ['10.250.0.2', 'client'],
  ['fd00:250::2', 'client'],
]);

function table(cap?: number): FlowTable {
  return new FlowTable({
    now: clock,
    cap,
    podOfCgroup: (id) => (id === '5649' ? 'client' : undefined),
    podOfIP: (ip) => pods.get(ip),
    podIP: (pod, family) => (pod === 'client' ? (family === 4 ? '10.250.0.2' : 'fd00:250::2') : undefined),
  });
}

describe('network output parser', () => {
  test('real bpftrace 0.17 output becomes flow records', () => {
    expectGolden('agent-net/bpftrace-0.17-net-records.json', goldenJson(captured.flatMap(parseNetLine)));
  });

  test('records merge per pod into a table with the session status shape', () => {
    const t = table();
    t.add(captured.flatMap(parseNetLine));
    expectGolden('agent-net/bpftrace-0.17-net-flows.json', goldenJson(t.flows()));
    expect(t.truncated).toBe(false);
    expect(t.unattributed).toBe(0);
  });

  test('lines that are not flow maps give nothing', () => {
    for (const line of [
      '',
      'not json',
      '{"type": "printf", "data": "harden:ready\\n"}',
      '{"type": "attached_probes", "data": {"probes": 8}}',
      '{"type": "map", "data": {"@sc0": {"329,39": 1}}}',
      '{"type": "map", "data": {"@nphase": 0}}',
      '{"type": "map", "data": {"@tcpe0": {"x,1.2.3.4,5.6.7.8,80": 1, "1,1.2.3.4,5.6.7.8,70000": 1}}}',
      '{"type": "map", "data": {"@tcpi0": {"1.2.3.4,80": 1, "1.2.3.4,80,5.6.7.8": 0}}}',
      '{"type": "map", "data": {"@udpe0": {"1,not-an-ip,53": 1}}}',
    ]) {
      expect(parseNetLine(line)).toEqual([]);
    }
  });

  test('v4-mapped addresses are IPv4 to a policy', () => {
    expect(normalizeIP('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(normalizeIP('::ffff:a00:1')).toBe('::ffff:a00:1');
    expect(normalizeIP('fd00::1')).toBe('fd00::1');
    expect(normalizeIP('1.2.3')).toBeUndefined();
  });
});

describe('flow table', () => {
  const rec = (over: Partial<FlowRecord>): FlowRecord => ({
    cgroup: '5649',
    direction: 'egress',
    proto: 'TCP',
    localIP: '10.250.0.2',
    localPort: 0,
    remoteIP: '10.250.0.1',
    remotePort: 80,
    count: 1,
    ...over,
  });

  test('counts merge and lastSeen moves; firstSeen stays', () => {
    let now = new Date('2025-01-01T00:00:00Z');
    const t = new FlowTable({ now: () => now, podOfCgroup: () => 'client', podOfIP: () => undefined });
    t.add([rec({ count: 2 })]);
    now = new Date('2025-01-01T00:00:05Z');
    t.add([rec({ count: 3 })]);
    expect(t.flows()).toEqual([
      expect.objectContaining({
        count: 5,
        firstSeen: '2025-01-01T00:00:00.000Z',
        lastSeen: '2025-01-01T00:00:05.000Z',
      }),
    ]);
  });

  test('TCP and UDP to the same port are different flows', () => {
    const t = table();
    t.add([rec({ remotePort: 53 }), rec({ proto: 'UDP', localIP: '', remotePort: 53 })]);
    expect(t.flows().map((f) => [f.proto, f.localIP])).toEqual([
      ['TCP', '10.250.0.2'],
      ['UDP', '10.250.0.2'],
    ]);
  });

  test('egress by cgroup, ingress by local address; unknown ones are counted, not kept', () => {
    const t = table();
    t.add([
      rec({ cgroup: '1' }),
      rec({ cgroup: undefined, direction: 'ingress', localIP: '10.9.9.9', localPort: 80, remotePort: 0 }),
    ]);
    expect(t.size).toBe(0);
    expect(t.unattributed).toBe(2);
  });

  test('an unknown local address falls back to the unspecified one of the family', () => {
    const t = new FlowTable({ now: clock, podOfCgroup: () => 'p', podOfIP: () => undefined });
    t.add([rec({ proto: 'UDP', localIP: '', remoteIP: 'fd00::53', remotePort: 53 })]);
    expect(t.flows()[0].localIP).toBe('::');
  });

  test('loopback is not a flow a NetworkPolicy can govern', () => {
    const t = table();
    t.add([rec({ localIP: '127.0.0.1', remoteIP: '127.0.0.1' }), rec({ localIP: '::1', remoteIP: '::1' })]);
    expect(t.size).toBe(0);
  });

  test("by default the table keeps at most what the CRD's schema accepts for one node", () => {
    const schema = traceSessionCrd().spec.versions[0].schema.openAPIV3Schema;
    const maxItems = schema.properties.status.properties.nodes.items.properties.flows.maxItems;
    const t = table();
    t.add(
      Array.from({ length: maxItems + 1 }, (_, i) =>
        rec({ remotePort: 1 + (i % 65535), remoteIP: `10.9.${i >> 8}.${i & 255}` }),
      ),
    );
    expect(t.size).toBe(maxItems);
    expect(t.truncated).toBe(true);
  });

  test('the cap keeps the flows it has exact and flags the rest', () => {
    const t = table(3);
    t.add([1, 2, 3, 4, 5].map((p) => rec({ remotePort: p })));
    t.add([rec({ remotePort: 1, count: 4 })]);
    expect(t.size).toBe(3);
    expect(t.truncated).toBe(true);
    expect(t.flows().find((f) => f.remotePort === 1)?.count).toBe(5);
  });
});

describe.each(['0.17', '0.23'])('UDP servers (bpftrace %s)', (version) => {
  /**
   * Captured from the network program on bpftrace 0.17 and 0.23.2 (this repo's probes,
   * `@targets[cgroup]` replaced by `comm == "python3"`; client and server in one cgroup, id 1, on the
   * host's 192.0.2.2 / fd00::2): an unconnected client sendto() a server 3 times on 5514 (recvfrom)
   * and once on 5515 (v6, recvmsg); a connected client once on 5514. Every request was answered.
   * Only the requests are flows: egress to the server ports, ingress on them; the answers, both ways
   * (and the connected client's recv), were recognised as replies.
   */
  const udp = () =>
    fs
      .readFileSync(path.join(GOLDEN_DIR, `agent-net/bpftrace-${version}-udp-server-output.jsonl`), 'utf8')
      .split('\n');

  test('a receive is ingress on the server port, attributed by the receiving cgroup', () => {
    const t = new FlowTable({
      now: clock,
      podOfCgroup: (id) => (id === '1' ? 'syslog' : undefined),
      podOfIP: () => undefined,
      podIP: (_pod, family) => (family === 4 ? '192.0.2.2' : 'fd00::2'),
    });
    t.add(udp().flatMap(parseNetLine));
    expectGolden('agent-net/udp-server-flows.json', goldenJson(t.flows()));
    expect(t.flows().map((f) => [f.direction, f.proto, f.localPort, f.remotePort, f.count])).toEqual([
      ['egress', 'UDP', 0, 5514, 4],
      ['egress', 'UDP', 0, 5515, 1],
      ['ingress', 'UDP', 5514, 0, 4],
      ['ingress', 'UDP', 5515, 0, 1],
    ]);
  });
});
