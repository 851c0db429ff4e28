// The Tracer when sessions end while a replacement program compiles: it must not start a program
// of nothing (bpftrace refuses one: "Undefined map: @targets"), which on the node failed the next
// session's start with BpftraceFailed.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tracer, isEmpty } from '../../../lib/agent/core/tracer';
import type { ProgramTargets } from '../../../lib/agent/core/program';
import { parse } from '../../support/programs';

/** Attaches after 300 ms, then runs until SIGINT. */
const STAND_IN = `#!/usr/bin/env node
setTimeout(() => process.stdout.write(JSON.stringify({ type: 'printf', data: 'harden:ready\\n' }) + '\\n'), 300);
process.on('SIGINT', () => process.exit(0));
setInterval(() => {}, 1000);
`;

let dir: string;
let tracer: Tracer | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'harden-tracer-'));
  writeFileSync(join(dir, 'bpftrace'), STAND_IN);
  chmodSync(join(dir, 'bpftrace'), 0o755);
});
afterEach(async () => {
  await tracer?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('sessions that end while a replacement compiles stop every program; none is started for nothing', async () => {
  const seccomp: ProgramTargets = {
    seeds: [{ id: '7', recording: true }],
    podPrefixes: [],
    extra: ['seccomp'],
  };
  const caps: ProgramTargets = { ...seccomp, extra: ['capabilities'] };
  let want = seccomp;
  const programsFor: ProgramTargets[] = [];
  const errors: string[] = [];
  tracer = new Tracer(
    {
      targets: () => want,
      program: (t) => {
        programsFor.push(t);
        // The replacement starts: the sessions end while it compiles.
        if (t === caps) setTimeout(() => (want = { seeds: [], podPrefixes: [] }), 50);
        return { text: JSON.stringify(t), env: {} };
      },
      onEvent: () => undefined,
      onHealth: (e) => e && errors.push(e.message),
    },
    { binary: join(dir, 'bpftrace'), ...parse },
  );
  await tracer.reconcile();
  expect(tracer.runningCount).toBe(1);
  want = caps;
  await tracer.reconcile();
  expect(programsFor.map((t) => t.extra)).toEqual([['seccomp'], ['capabilities']]);
  expect(programsFor.some(isEmpty)).toBe(false);
  expect(tracer.runningCount).toBe(0);
  expect(errors).toEqual([]);
});
