import { effectiveCaps, missingTracingCaps } from '../../../lib/agent/core/process-caps';

// CapEff lines as /proc/<pid>/status shows them in a privileged container (every capability of this
// kernel) and in containerd's default set for an unprivileged one.
const PRIVILEGED =
  'Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n';
const DEFAULT_SET = 'Name:\tnode\nCapEff:\t00000000a80425fb\n';

test('a privileged container may trace', () => {
  expect(missingTracingCaps(effectiveCaps(PRIVILEGED)!)).toBeUndefined();
});

test("containerd's default capabilities may not, and the reason names the capabilities and the fix", () => {
  expect(missingTracingCaps(effectiveCaps(DEFAULT_SET)!)).toMatch(
    /^the agent runs without CAP_SYS_ADMIN \(or CAP_BPF and CAP_PERFMON\).*run its container privileged/,
  );
});

test('CAP_BPF and CAP_PERFMON without CAP_SYS_ADMIN are enough', () => {
  expect(missingTracingCaps((1n << 38n) | (1n << 39n))).toBeUndefined();
  expect(missingTracingCaps(1n << 39n)).toBeDefined();
});

test('no CapEff line: unknown', () => {
  expect(effectiveCaps('Name:\tnode\n')).toBeUndefined();
});
