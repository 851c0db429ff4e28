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
});
