import { transition } from '../../../lib/session/conditions';

const ready = {
  type: 'BpftraceReady',
  status: 'True' as const,
  reason: 'Running',
  message: 'bpftrace is attached',
};
const failed = {
  type: 'BpftraceReady',
  status: 'False' as const,
  reason: 'BpftraceFailed',
  message: 'exit 1',
};

describe('condition transitions', () => {
  test('a condition seen for the first time transitions now', () => {
    expect(transition(undefined, [ready], 'T1')).toEqual([{ ...ready, lastTransitionTime: 'T1' }]);
  });

  test('flushing an unchanged status keeps its transition time', () => {
    const first = transition(undefined, [ready], 'T1');
    const again = transition(first, [{ ...ready, message: 'bpftrace is attached (2 programs)' }], 'T2');
    expect(again[0].lastTransitionTime).toBe('T1');
    expect(again[0].message).toBe('bpftrace is attached (2 programs)');
  });

  test('a change of status is a transition', () => {
    const first = transition(undefined, [ready], 'T1');
    const down = transition(first, [failed], 'T2');
    expect(down[0]).toMatchObject({ status: 'False', lastTransitionTime: 'T2' });
    expect(transition(down, [ready], 'T3')[0].lastTransitionTime).toBe('T3');
  });

  test('messages stay bounded', () => {
    expect(transition(undefined, [{ ...failed, message: 'x'.repeat(5000) }], 'T1')[0].message).toHaveLength(
      2000,
    );
  });
});
