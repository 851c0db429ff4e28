// The Tracer around a switch. When sessions end while a replacement program compiles, it must not
// start a program of nothing (bpftrace refuses one: "Undefined map: @targets"), which on the node
// failed the next session's start with BpftraceFailed. While a switch is pending, the program in
// service prints at its short interval, and only then.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tracer, isEmpty, type TraceGap } from '../../../lib/agent/tracer';
import { hurryIntervalMs, type ProgramTargets } from '../../../lib/agent/program';

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
    { binary: join(dir, 'bpftrace') },
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

test('a switch hurries the program in service until the new one serves; a first start hurries nothing', async () => {
  const seccomp: ProgramTargets = {
    seeds: [{ id: '7', recording: true }],
    podPrefixes: [],
    extra: ['seccomp'],
  };
  let want = seccomp;
  // What is in service each time the programs are told to hurry or not.
  const calls: string[] = [];
  tracer = new Tracer(
    {
      targets: () => want,
      program: (t) => ({ text: JSON.stringify(t), env: {} }),
      onEvent: () => undefined,
      onHealth: () => undefined,
    },
    {
      binary: join(dir, 'bpftrace'),
      hurry: (on) => calls.push(`${on ? 'hurry' : 'as usual'}: ${tracer?.attachedTargets?.extra?.join()}`),
    },
  );
  await tracer.reconcile();
  expect(calls).toEqual([]);
  want = { ...seccomp, extra: ['capabilities'] };
  await tracer.reconcile();
  expect(calls).toEqual(['hurry: seccomp', 'as usual: capabilities']);
  expect(tracer.runningCount).toBe(1);
});

test('the program in service dies during a switch: the gap reaches back only a short interval', async () => {
  const seccomp: ProgramTargets = {
    seeds: [{ id: '7', recording: true }],
    podPrefixes: [],
    extra: ['seccomp'],
  };
  let want = seccomp;
  const gaps: TraceGap[] = [];
  tracer = new Tracer(
    {
      targets: () => want,
      program: (t) => ({ text: JSON.stringify(t), env: {} }),
      onEvent: () => undefined,
      onHealth: () => undefined,
      onGap: (g) => gaps.push(g),
    },
    { binary: join(dir, 'bpftrace'), intervalMs: 1000, hurry: () => undefined },
  );
  await tracer.reconcile();
  const inService = tracer.current!;
  want = { ...seccomp, extra: ['capabilities'] };
  const switching = tracer.reconcile();
  // Killed while its replacement attaches (300 ms): it printed nothing, so what it held since a
  // short interval (250 ms) ago is lost, not since a whole one.
  await new Promise((r) => setTimeout(r, 100));
  const killedAt = Date.now();
  process.kill(inService.pid!, 'SIGKILL');
  await switching;
  expect(gaps).toHaveLength(1);
  expect(gaps[0].reason).toBe('BpftraceExited');
  expect(killedAt - gaps[0].from.getTime()).toBeLessThanOrEqual(hurryIntervalMs(1000));
});
