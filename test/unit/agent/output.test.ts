import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseOutputLine } from '../../support/programs';
import { expectGolden, GOLDEN_DIR, goldenJson } from '../golden';

describe('bpftrace -f json output', () => {
  test('captured bpftrace 0.17 lines become typed events', () => {
    const lines = fs
      .readFileSync(path.join(GOLDEN_DIR, 'agent/bpftrace-0.17-output.jsonl'), 'utf8')
      .split('\n');
    expectGolden('agent/bpftrace-0.17-events.json', goldenJson(lines.flatMap(parseOutputLine)));
  });

  test('captured bpftrace 0.23 lines of the combined program become the same kinds of events', () => {
    // The agent image's bpftrace, the node program of both session kinds: a seeded cgroup, one
    // armed after the start that exec'd wget (TCP) and tftp (UDP sendto) on loopback.
    const lines = fs
      .readFileSync(path.join(GOLDEN_DIR, 'agent/bpftrace-0.23-output.jsonl'), 'utf8')
      .split('\n');
    const events = lines.flatMap(parseOutputLine);
    expectGolden('agent/bpftrace-0.23-events.json', goldenJson(events));
    expect(events.filter((e) => e.kind === 'other')).toEqual([]);
  });

  test('an overflowed map and lost output are events of their own', () => {
    expect(parseOutputLine('{"type": "printf", "data": "harden:full syscalls\\n"}')).toEqual([
      { kind: 'full', maps: 'syscalls' },
    ]);
    // As bpftrace 0.23 printed them when a flow of 59 000 syscall numbers filled @sc1.
    const refused =
      '{"type": "helper_error", "msg": "Map full; can\'t update element. Try increasing max_map_keys config", "helper": "map_update_elem", "retcode": -7, "line": 42, "col": 97}';
    expect(parseOutputLine(refused)).toEqual([{ kind: 'full', maps: 'map' }]);
    expect(parseOutputLine('{"type": "lost_events", "data": {"events": 10295}}')).toEqual([
      { kind: 'lost', events: 10295 },
    ]);
  });
});
