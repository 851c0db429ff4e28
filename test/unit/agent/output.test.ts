import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseOutputLine } from '../../../lib/agent/output';
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

  test('an overflowed set map is an event of its own', () => {
    expect(parseOutputLine('{"type": "printf", "data": "harden:full syscalls\\n"}')).toEqual([
      { kind: 'full', maps: 'syscalls' },
    ]);
  });
});
