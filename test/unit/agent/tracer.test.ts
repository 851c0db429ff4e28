// The real Tracer with a bpftrace stand-in: what it does when the wanted programs change under it.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BpftraceError } from '../../../lib/agent/core/bpftrace-error';
import type { ProgramTargets } from '../../../lib/agent/core/program';
import { Tracer, isEmpty, tracesAllOf, type TracerHooks } from '../../../lib/agent/core/tracer';
import { parse } from '../../support/programs';

/**
 * Attaches after 300 ms, then runs until SIGINT; a program naming "missing_probe" fails at once,
 * as bpftrace does on a probe the kernel lacks.
 */
const STAND_IN = `#!/usr/bin/env node
const text = require('fs').readFileSync(process.argv[process.argv.length - 1], 'utf8');
if (text.includes('missing_probe')) {
  process.stderr.write('ERROR: tracepoint not found: capability:missing_probe\\n');
  process.exit(1);
}
setTimeout(() => process.stdout.write(JSON.stringify({ type: 'printf', data: 'harden:ready\\n' }) + '\\n'), 300);
// A program naming "slowstop" takes 500 ms from SIGINT to exit (END printing large maps).
process.on('SIGINT', () => setTimeout(() => process.exit(0), text.includes('slowstop') ? 500 : 0));
// A program naming "ticks" ends an interval's print every 100 ms; others never print (a stalled one).
const tick = JSON.stringify({ type: 'printf', data: 'harden:tick\\n' }) + '\\n';
setInterval(() => text.includes('ticks') && process.stdout.write(tick), 100);
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

/** A Tracer of the stand-in; a program's text is its targets' extra unless `hooks` say otherwise. */
function start(hooks: Pick<TracerHooks, 'targets' | 'onHealth'> & Partial<TracerHooks>): Tracer {
  tracer = new Tracer(
    {
      program: (t) => ({ text: (t.extra ?? []).join(' '), env: {}, args: [] }),
      onEvent: () => undefined,
      ...hooks,
    },
    { binary: join(dir, 'bpftrace'), maxBackoffMs: 60_000, ...parse },
  );
  return tracer;
}

const seccomp: ProgramTargets = {
  seeds: [{ id: '7', recording: true }],
  podPrefixes: [],
  extra: ['seccomp'],
};

/**
 * A program in service for a seccomp session, then a capabilities session whose replacement
 * program is started, the session ending while it compiles; `more` adds hooks.
 */
async function replacementWhoseSessionEnds(caps: ProgramTargets, more: Partial<TracerHooks> = {}) {
  let want = seccomp;
  const programsFor: ProgramTargets[] = [];
  const errors: string[] = [];
  const t = start({
    targets: () => want,
    program: (p) => {
      programsFor.push(p);
      if (p === caps) setTimeout(() => (want = { seeds: [], podPrefixes: [] }), 50);
      return { text: JSON.stringify(p), env: {}, args: [] };
    },
    onHealth: (e) => e && errors.push(e.message),
    ...more,
  });
  await t.reconcile();
  const inService = t.runningCount;
  want = caps;
  return {
    t,
    programsFor,
    errors,
    inService,
    /** Replaces what is wanted from here on (a session that comes). */
    come: (next: ProgramTargets) => (want = next),
  };
}

// Sessions that end while a replacement program compiles: no program of nothing may be started
// (bpftrace refuses one: "Undefined map: @targets"), which on the node failed the next session's
// start with BpftraceFailed.
test('sessions that end while a replacement compiles stop every program; none is started for nothing', async () => {
  const caps: ProgramTargets = { ...seccomp, extra: ['capabilities'] };
  const { t, programsFor, errors, inService } = await replacementWhoseSessionEnds(caps);
  expect(inService).toBe(1);
  await t.reconcile();
  expect(programsFor.map((p) => p.extra)).toEqual([['seccomp'], ['capabilities']]);
  expect(programsFor.some(isEmpty)).toBe(false);
  expect(t.runningCount).toBe(0);
  expect(errors).toEqual([]);
});

// A replacement that missed what was wanted when it attached is stopped (seconds on a node) and
// another tried: a session that came meanwhile, which the program in service covers, was taken for
// none (the targets of before the stop), and every program was stopped under it.
test('a session that comes while a failed replacement is stopped is served by the program in service', async () => {
  const caps: ProgramTargets = { ...seccomp, extra: ['capabilities', 'slowstop'] };
  // While that program is stopped, a seccomp session comes.
  let come: (next: ProgramTargets) => void = () => undefined;
  const r = await replacementWhoseSessionEnds(caps, {
    log: (line) => /starting another/.test(line) && come({ ...seccomp }),
  });
  come = r.come;
  await r.t.reconcile();
  expect(r.programsFor.map((p) => p.extra)).toEqual([['seccomp'], ['capabilities', 'slowstop']]);
  expect(r.t.runningCount).toBe(1);
  expect(r.t.attachedTargets).toBe(seccomp);
});

// A session is Tracing only when the program in service traces its containers: one started for
// another session arms new cgroups under its prefixes, but a running container only if seeded.
test('untraced: the cgroups the program in service neither seeded nor armed; all while none serves', async () => {
  const t = start({
    targets: () => ({ ...seccomp, podPrefixes: ['/kubepods/'] }),
    onHealth: () => undefined,
  });
  const running = { id: '8', recording: true };
  expect(t.untraced([seccomp.seeds[0], running])).toEqual(['7', '8']);
  await t.reconcile();
  expect(t.untraced([seccomp.seeds[0], running])).toEqual(['8']);
});

// A stop's final flush waits for what bpftrace held at the stop: two more interval prints read
// to their end, not a guess at when they are due (on a loaded node they lag).
describe('drained', () => {
  test('once every running program printed twice more', async () => {
    const t = start({ targets: () => ({ ...seccomp, extra: ['ticks'] }), onHealth: () => undefined });
    await t.reconcile();
    expect(t.runningCount).toBe(1);
    expect(await t.drained(5_000)).toBe(true);
  });

  test('not before a program being stopped has ended (its END prints what it held)', async () => {
    let want: ProgramTargets = { ...seccomp, extra: ['ticks', 'slowstop'] };
    let ended = false;
    const t = start({
      targets: () => want,
      onHealth: () => undefined,
      log: (line) => /stopped/.test(line) && (ended = true),
    });
    await t.reconcile();
    want = { seeds: [], podPrefixes: [] };
    const stopping = t.reconcile();
    await new Promise((r) => setTimeout(r, 100));
    // No program runs any more, but the one stopped has not ended yet (500 ms from SIGINT).
    expect(t.runningCount).toBe(0);
    expect(ended).toBe(false);
    expect(await t.drained(5_000)).toBe(true);
    expect(ended).toBe(true);
    await stopping;
  });

  test('false at the deadline when a program stopped printing', async () => {
    const t = start({ targets: () => seccomp, onHealth: () => undefined });
    await t.reconcile();
    expect(t.runningCount).toBe(1);
    expect(await t.drained(400)).toBe(false);
  });
});

// A failure outlived its cause: a program that failed to start (a part the kernel lacks) left
// BpftraceReady=False, so after that session was gone the node kept refusing new sessions.
describe('a failure clears', () => {
  const withBroken: ProgramTargets = { ...seccomp, extra: ['seccomp', 'missing_probe'] };
  let want: ProgramTargets;
  let health: (BpftraceError | undefined)[];
  const last = () => health[health.length - 1];
  beforeEach(() => {
    health = [];
    start({ targets: () => want, onHealth: (e) => health.push(e) });
  });

  test('once the program in service covers what is wanted again', async () => {
    want = seccomp;
    await tracer!.reconcile();
    expect(tracer!.attachedTargets).toBe(seccomp);
    // A session whose part the kernel lacks: the new program fails; the old one serves on.
    want = withBroken;
    await tracer!.reconcile();
    expect(last()?.message).toMatch(/missing_probe/);
    expect(tracer!.attachedTargets).toBe(seccomp);
    // That session is gone: what is wanted is what the program in service traces.
    want = { ...seccomp };
    await tracer!.reconcile();
    expect(last()).toBeUndefined();
  });

  test('once nothing is wanted', async () => {
    want = withBroken;
    await tracer!.reconcile();
    expect(last()?.message).toMatch(/missing_probe/);
    want = { seeds: [], podPrefixes: [] };
    await tracer!.reconcile();
    expect(last()).toBeUndefined();
  });
});

describe('tracesAllOf: may the program in service serve on instead of a tidier one that missed cgroups?', () => {
  const program = (prefixes: string[], seeded: string[], armed: string[] = []) => ({
    prefixes: new Set(prefixes),
    seeded: new Map(seeded.map((id) => [id, true])),
    armed: new Set(armed),
    recording: new Set<string>(),
  });
  const want: ProgramTargets = {
    seeds: ['1', '2', '3'].map((id) => ({ id, recording: false })),
    podPrefixes: ['/kubepods/pod-a/'],
  };

  test('yes when it lacks only what the other lacks too (a cgroup whose report is still in a pipe)', () => {
    const inService = program(['/kubepods/pod-a/'], ['1'], ['2']);
    const tidier = program(['/kubepods/pod-a/'], ['1', '2']);
    expect(tracesAllOf(inService, tidier, want)).toBe(true);
  });

  test('no when the other traces a cgroup or pod it does not', () => {
    expect(
      tracesAllOf(program(['/kubepods/pod-a/'], ['1']), program(['/kubepods/pod-a/'], ['1', '2']), want),
    ).toBe(false);
    expect(tracesAllOf(program([], ['1', '2']), program(['/kubepods/pod-a/'], ['1', '2']), want)).toBe(false);
  });
});
