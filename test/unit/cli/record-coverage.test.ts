// Which recorders recorded a workload, across the recordings of a directory.
import { coverageOf, type CoverageEvidence } from '../../../lib/cli/record-coverage';

const refusal = (node: string, everywhere = false) => ({
  recorder: 'capabilities' as const,
  node,
  ...(everywhere ? { everywhere } : {}),
  reason: 'KernelUnsupported',
  message: `node "${node}" cannot record capabilities sessions`,
});

const recording = (id: string, over: Partial<CoverageEvidence> = {}): CoverageEvidence => ({
  id,
  pods: { 'web-a': 'deployment-web', 'web-b': 'deployment-web', 'db-a': 'statefulset-db' },
  nodes: { 'web-a': 'n1', 'web-b': 'n2', 'db-a': 'n2' },
  ...over,
});

test('a recorder refused everywhere recorded none of any workload', () => {
  const e = [recording('r1', { refused: [refusal('n1', true)] })];
  expect(coverageOf(e, 'deployment-web')).toEqual({
    notRecorded: [{ recorder: 'capabilities', reason: 'KernelUnsupported, e.g. on node n1' }],
    refusedPods: [],
  });
});

test("a node's refusal: a workload wholly on it is not recorded, one also elsewhere has that pod named", () => {
  const e = [recording('r1', { refused: [refusal('n2')] })];
  expect(coverageOf(e, 'statefulset-db')).toEqual({
    notRecorded: [{ recorder: 'capabilities', reason: 'KernelUnsupported on node n2' }],
    refusedPods: [],
  });
  expect(coverageOf(e, 'deployment-web')).toEqual({
    notRecorded: [],
    refusedPods: [
      { recording: 'r1', recorder: 'capabilities', pod: 'web-b', node: 'n2', reason: 'KernelUnsupported' },
    ],
  });
});

test('a recording that served the workload covers it; older evidence without refusals counts as served', () => {
  const refused = recording('r1', { refused: [refusal('n1', true)] });
  expect(coverageOf([refused, recording('r2')], 'statefulset-db').notRecorded).toEqual([]);
  const old = { id: 'r0', pods: { 'db-a': 'statefulset-db' } };
  expect(coverageOf([old], 'statefulset-db')).toEqual({ notRecorded: [], refusedPods: [] });
  expect(coverageOf([recording('r1')], 'deployment-other')).toEqual({ notRecorded: [], refusedPods: [] });
});
