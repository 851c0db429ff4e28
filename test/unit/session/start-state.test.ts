import { startState } from '../../../lib/session/lifecycle';
import type { NodeRecord, SessionPhase, TraceSession } from '../../../lib/session/types';

/** A node's entry; `broken` is why its bpftrace cannot run (BpftraceReady=False). */
const entry = (node: string, phase: SessionPhase, broken?: string): NodeRecord => ({
  node,
  arch: 'amd64',
  agentVersion: 'x',
  lastFlush: '2025-01-01T00:00:00Z',
  final: false,
  phase,
  containers: [],
  conditions: [
    {
      type: 'BpftraceReady',
      status: broken ? 'False' : 'True',
      reason: broken ? 'BpftraceFailed' : 'Running',
      message: broken ?? 'bpftrace is attached',
      lastTransitionTime: '2025-01-01T00:00:00Z',
    },
  ],
});

const session = (target: TraceSession['spec']['target'], nodes: NodeRecord[]): TraceSession => ({
  apiVersion: 'harden.dev/v1alpha1',
  kind: 'TraceSession',
  metadata: { name: 's', namespace: 'shop' },
  spec: { type: 'seccomp', state: 'Running', target },
  status: { nodes },
});
const open = { selector: { matchLabels: { app: 'web' } } };
const broken = entry('n2', 'Pending', 'bpftrace exited with 1 before attaching: ERROR: no BTF');

describe('a starting session with a node whose bpftrace cannot run', () => {
  test('an open session goes on without that node: Tracing once the others trace, the node named', () => {
    const s = session(open, [entry('n1', 'Tracing'), broken]);
    expect(startState(s, ['n1', 'n2'])).toEqual({
      phase: 'Tracing',
      leftOut: [
        {
          node: 'n2',
          reason: 'BpftraceFailed',
          message:
            'bpftrace on node n2: BpftraceFailed: bpftrace exited with 1 before attaching: ERROR: no BTF',
        },
      ],
    });
    // The others still attaching: it waits for them, not for the broken node.
    expect(startState(session(open, [entry('n1', 'Pending'), broken]), ['n1', 'n2'])).toMatchObject({
      phase: 'Pending',
    });
    // Another node has not written yet: it is waited for.
    expect(startState(session(open, [broken]), ['n1', 'n2'])).toMatchObject({ phase: 'Pending' });
  });

  test('it cannot be traced when no other agent can serve it, or it is a pod session', () => {
    expect(startState(session(open, [broken]), ['n2'])).toEqual({
      cannot: [expect.objectContaining({ node: 'n2' })],
    });
    // Without the right to list the agents, no other node is known to serve it.
    expect(startState(session(open, [entry('n1', 'Tracing'), broken]), undefined)).toHaveProperty('cannot');
    expect(startState(session({ podName: 'web-1' }, [broken]), ['n1', 'n2'])).toHaveProperty('cannot');
  });

  test('with every node able to run bpftrace, the phase is the session phase and nothing is left out', () => {
    expect(startState(session(open, [entry('n1', 'Tracing'), entry('n2', 'Pending')]), ['n1', 'n2'])).toEqual(
      {
        phase: 'Pending',
        leftOut: [],
      },
    );
  });
});
