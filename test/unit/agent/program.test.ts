import { DIALECTS } from '../../../lib/agent/core/dialect';
import type { ProgramTargets } from '../../../lib/agent/core/program';
import { LITERAL_MAX, SEED_TESTS_MAX } from '../../../lib/agent/core/program';
import { covers, hasExtra } from '../../../lib/agent/core/tracer';
import { seccompOnlyProgram } from '../../support/programs';
import { expectGolden } from '../golden';

const prefix =
  '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0000000_0000_0000_0000_000000000000.slice/';

const [v017, v023] = DIALECTS;

describe('seccomp program', () => {
  const targets = {
    seeds: [
      { id: '329', recording: true },
      { id: '330', recording: false },
    ],
    podPrefixes: [prefix, '/kubepods/pod11111111-2222-3333-4444-555555555555/'],
  };

  test('bpftrace 0.17: the cgroup_mkdir tracepoint, limits in the environment', () => {
    const p = seccompOnlyProgram(targets, 3000, v017);
    expectGolden('agent/seccomp-program-0.17.bt', p.text);
    // Its text, as tested on its kernels, does not take the newest cgroup id.
    expect(seccompOnlyProgram({ ...targets, newerThan: '331' }, 3000, v017).text).toBe(p.text);
    expect(p.env).toEqual({ BPFTRACE_STRLEN: '200', BPFTRACE_MAP_KEYS_MAX: '16384' });
  });

  test('bpftrace 0.23: the raw cgroup_mkdir tracepoint, limits in the config block', () => {
    // As the agent starts it: with the newest cgroup id it found, as the second positional parameter.
    const p = seccompOnlyProgram({ ...targets, newerThan: '331' }, 3000, v023);
    expectGolden('agent/seccomp-program-0.23.bt', p.text);
    expect(p.args).toEqual(['0', '331']);
    expect(seccompOnlyProgram(targets, 3000, { ...v023, userRegs: 16216 }).args).toEqual(['16216']);
    // 0.23 warns about the old variables on every start, and the warning would reach conditions.
    expect(p.env).toEqual({});
    expect(p.text).not.toContain('tracepoint:cgroup:');
  });

  test('the syscall predicate is one map lookup (0.17)', () => {
    const p = seccompOnlyProgram({ seeds: [{ id: '1', recording: true }], podPrefixes: [] }, 1000, v017);
    expect(p.text).toContain('tracepoint:raw_syscalls:sys_enter /@rec[cgroup]/ {');
  });

  /** The probe on every syscall's entry, as 0.23's program has it for these targets. */
  const sysEnter = (t: ProgramTargets) => {
    const text = seccompOnlyProgram(t, 1000, v023).text;
    expect(text).not.toContain('raw_syscalls');
    const at = text.indexOf('rawtracepoint:sys_enter {');
    return text.slice(at, text.indexOf('\n}', at) + 2);
  };
  const insert =
    'if (@phase) { if (!@sc1[$c, $n]) { if (@scn1 < 16384) { @sc1[$c, $n] = 1; } @scn1++; } } else { if (!@sc0[$c, $n]) { if (@scn0 < 16384) { @sc0[$c, $n] = 1; } @scn0++; } }';

  test('0.23: the raw sys_enter tracepoint, one cgroup read and one lookup for a cgroup not recording', () => {
    expect(sysEnter({ seeds: [{ id: '1', recording: true }], podPrefixes: [] })).toBe(
      [
        'rawtracepoint:sys_enter {',
        '  $c = cgroup;',
        '  $r = @rec[$c];',
        '  if ($r == 1 || ($r == 2 && curtask->seccomp.mode == 2)) {',
        '    $n = (int64)arg1;',
        `    ${insert}`,
        '  }',
        '}',
      ].join('\n'),
    );
  });

  test('0.23 with the newest cgroup id: a cgroup neither seeded nor newer is passed over without a lookup', () => {
    const seeds = [
      { id: '7', recording: true },
      { id: '9', recording: false },
    ];
    // 7 records every task from the program's start: its @rec cannot change, so it needs no lookup.
    expect(sysEnter({ seeds, podPrefixes: [], newerThan: '12' })).toBe(
      [
        'rawtracepoint:sys_enter {',
        '  $c = cgroup;',
        '  if ($c == 7) {',
        '    $n = (int64)arg1;',
        `    ${insert}`,
        '  } else if ($c > $2 || $c == 9) {',
        '    $r = @rec[$c];',
        '    if ($r == 1 || ($r == 2 && curtask->seccomp.mode == 2)) {',
        '      $n = (int64)arg1;',
        `      ${insert}`,
        '    }',
        '  }',
        '}',
      ].join('\n'),
    );
    // One recording under its filter, or armed (its exec to come): looked up.
    const looked = [
      { id: '7', recording: true, filtered: true },
      { id: '9', recording: false },
    ];
    expect(sysEnter({ seeds: looked, podPrefixes: [], newerThan: '12' })).toContain(
      '  $c = cgroup;\n  if ($c > $2 || $c == 7 || $c == 9) {\n    $r = @rec[$c];',
    );
    // No seeds (an open session's first program): only what is made from now on.
    expect(sysEnter({ seeds: [], podPrefixes: [prefix], newerThan: '12' })).toContain('  if ($c > $2) {\n');
    // Many seeds: a range from the oldest, not a comparison each.
    const many = Array.from({ length: SEED_TESTS_MAX + 1 }, (_, i) => ({
      id: String(500 - i),
      recording: false,
    }));
    expect(sysEnter({ seeds: many, podPrefixes: [], newerThan: '600' })).toContain(
      `  if ($c > $2 || $c >= ${500 - SEED_TESTS_MAX}) {\n`,
    );
    expect(
      sysEnter({ seeds: many.slice(1), podPrefixes: [], newerThan: '600' }).match(/\$c == /g),
    ).toHaveLength(SEED_TESTS_MAX);
    // Nor is any seed taken without a lookup then.
    const manyRecording = many.map((x) => ({ ...x, recording: true }));
    expect(sysEnter({ seeds: manyRecording, podPrefixes: [], newerThan: '600' })).not.toContain('else if');
    expect(() => seccompOnlyProgram({ seeds, podPrefixes: [], newerThan: '1 || 1' }, 1000, v023)).toThrow();
  });

  test.each(DIALECTS)('no string literal exceeds what bpftrace 0.17 accepts ($series)', (dialect) => {
    const p = seccompOnlyProgram({ seeds: [], podPrefixes: [prefix] }, 1000, dialect);
    for (const m of p.text.matchAll(/"([^"]*)"/g)) expect(m[1].length).toBeLessThanOrEqual(LITERAL_MAX);
  });

  test.each(DIALECTS)(
    'the probes do not grow with the pods: one per prefix length and head ($series)',
    (dialect) => {
      // 250 pods of three QoS classes: three prefix shapes; a prefix per probe exceeded 0.23's BPF stack from 33 on.
      const uid = (i: number) => `${String(i).padStart(8, '0')}-0000-0000-0000-000000000000`;
      const qos = ['besteffort/', 'burstable/', ''];
      const prefixes = (n: number) =>
        Array.from({ length: n }, (_, i) => `/kubepods/${qos[i % 3]}pod${uid(i)}/`);
      const mkdirProbes = (n: number) =>
        seccompOnlyProgram({ seeds: [], podPrefixes: prefixes(n) }, 1000, dialect).text.match(/cgroup_mkdir/g)
          ?.length;
      expect(mkdirProbes(250)).toBe(4);
      expect(mkdirProbes(3)).toBe(4);
      expect(mkdirProbes(1)).toBe(2);
      expect(mkdirProbes(0)).toBeUndefined();
      // Every pod's prefix is a key, once.
      const text = seccompOnlyProgram({ seeds: [], podPrefixes: prefixes(250) }, 1000, dialect).text;
      expect(text.match(/^ {2}@pfx\d+_\d+\["[^"]+"\] = 1;$/gm)).toHaveLength(250);
    },
  );

  test('unsafe input is refused rather than spliced into the program', () => {
    expect(() =>
      seccompOnlyProgram({ seeds: [{ id: '1; exit()', recording: true }], podPrefixes: [] }, 1000, v023),
    ).toThrow();
    expect(() => seccompOnlyProgram({ seeds: [], podPrefixes: ['/a"b/'] }, 1000, v023)).toThrow();
    expect(() => seccompOnlyProgram({ seeds: [], podPrefixes: ['/a'] }, 1000, v017)).toThrow();
  });
});

describe('program coverage (overlap switching)', () => {
  const live = {
    prefixes: new Set(['/p1/']),
    seeded: new Map([
      ['10', true],
      ['11', false],
    ]),
    armed: new Set(['12']),
    recording: new Set(['11']),
  };
  test('seeded, armed and exec-reported cgroups count as covered', () => {
    expect(
      covers(live, {
        podPrefixes: ['/p1/'],
        seeds: [
          { id: '10', recording: true },
          { id: '11', recording: true },
          { id: '12', recording: false },
        ],
      }),
    ).toBe(true);
  });
  test('a cgroup recording elsewhere but waiting here is not covered', () => {
    expect(covers(live, { podPrefixes: [], seeds: [{ id: '12', recording: true }] })).toBe(false);
    expect(covers(live, { podPrefixes: [], seeds: [{ id: '13', recording: false }] })).toBe(false);
    expect(covers(live, { podPrefixes: ['/p2/'], seeds: [] })).toBe(false);
  });
  test('a pod no longer wanted makes the program too big', () => {
    expect(hasExtra(live, { podPrefixes: [], seeds: [] })).toBe('prefix');
    expect(
      hasExtra(live, { podPrefixes: ['/p1/'], seeds: [{ id: '12', recording: false }] }),
    ).toBeUndefined();
  });
  test('a cgroup armed by a broad prefix that is not a target makes the program too big', () => {
    // Told apart: such a program is replaced at most every so often (under pod churn, always would be).
    expect(hasExtra(live, { podPrefixes: ['/p1/'], seeds: [] })).toBe('cgroup');
  });
  test("under the node's prefix, a new pod's prefix is covered and a deleted pod's one is no reason to switch at once", () => {
    const node = { ...live, prefixes: new Set(['/kubepods/', '/kubepods/pod-a/']), armed: new Set<string>() };
    expect(covers(node, { podPrefixes: ['/kubepods/', '/kubepods/pod-b/'], seeds: [] })).toBe(true);
    expect(hasExtra(node, { podPrefixes: ['/kubepods/'], seeds: [] })).toBe('cgroup');
  });
  test('a cgroup that ran and vanished is no extra at all', () => {
    expect(hasExtra(live, { podPrefixes: ['/p1/'], seeds: [] }, (id) => id !== '12')).toBeUndefined();
  });
});
