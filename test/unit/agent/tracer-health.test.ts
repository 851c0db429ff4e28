// The Tracer's error outlived its cause: a program that failed to start (a capabilities part the
// kernel lacks) left BpftraceReady=False, so after that session was gone the node kept refusing new
// sessions. The real Tracer, with a bpftrace stand-in that refuses programs naming a missing probe.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BpftraceError } from '../../../lib/agent/core/bpftrace-error';
import type { ProgramTargets } from '../../../lib/agent/core/program';
import { Tracer } from '../../../lib/agent/core/tracer';
import { parse } from '../../support/programs';

/** Attaches at once, unless the program names the missing probe: then it fails as bpftrace does. */
const STAND_IN = `#!/usr/bin/env node
const text = require('fs').readFileSync(process.argv[process.argv.length - 1], 'utf8');
if (text.includes('missing_probe')) {
  process.stderr.write('ERROR: tracepoint not found: capability:missing_probe\\n');
  process.exit(1);
}
process.stdout.write(JSON.stringify({ type: 'printf', data: 'harden:ready\\n' }) + '\\n');
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

const seccomp: ProgramTargets = {
  seeds: [{ id: '7', recording: true }],
  podPrefixes: [],
  extra: ['seccomp'],
};
const withBroken: ProgramTargets = { ...seccomp, extra: ['seccomp', 'missing_probe'] };

test('the error clears once the program in service covers what is wanted again', async () => {
  let want = seccomp;
  const health: (BpftraceError | undefined)[] = [];
  tracer = new Tracer(
    {
      targets: () => want,
      program: (t) => ({ text: (t.extra ?? []).join(' '), env: {} }),
      onEvent: () => undefined,
      onHealth: (e) => health.push(e),
    },
    { binary: join(dir, 'bpftrace'), maxBackoffMs: 60_000, ...parse },
  );
  await tracer.reconcile();
  expect(tracer.attachedTargets).toBe(seccomp);
  // A session whose part the kernel lacks: the new program fails; the old one serves on.
  want = withBroken;
  await tracer.reconcile();
  expect(health[health.length - 1]?.message).toMatch(/missing_probe/);
  expect(tracer.attachedTargets).toBe(seccomp);
  // That session is gone: what is wanted is what the program in service traces.
  want = { ...seccomp };
  await tracer.reconcile();
  expect(health[health.length - 1]).toBeUndefined();
});

test('the error clears once nothing is wanted', async () => {
  let want = withBroken;
  const health: (BpftraceError | undefined)[] = [];
  tracer = new Tracer(
    {
      targets: () => want,
      program: (t) => ({ text: (t.extra ?? []).join(' '), env: {} }),
      onEvent: () => undefined,
      onHealth: (e) => health.push(e),
    },
    { binary: join(dir, 'bpftrace'), maxBackoffMs: 60_000, ...parse },
  );
  await tracer.reconcile();
  expect(health[health.length - 1]?.message).toMatch(/missing_probe/);
  want = { seeds: [], podPrefixes: [] };
  await tracer.reconcile();
  expect(health[health.length - 1]).toBeUndefined();
});
