import { refusalMessage, refusals, sessionPhase } from '../../../lib/session/phase';
import type { NodeRecord, SessionPhase, TraceSession } from '../../../lib/session/types';

const entry = (node: string, phase: SessionPhase, reason?: string): NodeRecord => ({
  node,
  arch: 'amd64',
  agentVersion: 'x',
  lastFlush: '2025-01-01T00:00:00Z',
  final: phase === 'Completed' || phase === 'Failed',
  phase,
  containers: [],
  ...(reason
    ? {
        conditions: [
          {
            type: 'Accepted',
            status: 'False' as const,
            reason,
            message: `node "${node}" cannot record capabilities sessions`,
            lastTransitionTime: '2025-01-01T00:00:00Z',
          },
        ],
      }
    : {}),
});

const session = (target: TraceSession['spec']['target'], nodes: NodeRecord[]) => ({
  spec: { type: 'capabilities' as const, state: 'Running' as const, target },
  status: { nodes },
});
const open = { selector: { matchLabels: { app: 'web' } } };
const pod = { podName: 'web-1' };

describe("a session's phase, from every node's entry", () => {
  test('Pending until a node writes; Tracing once every serving node traces; Completed once all finished', () => {
    expect(sessionPhase(session(open, []))).toBe('Pending');
    expect(sessionPhase(session(open, [entry('a', 'Tracing'), entry('b', 'Pending')]))).toBe('Pending');
    expect(sessionPhase(session(open, [entry('a', 'Tracing'), entry('b', 'Tracing')]))).toBe('Tracing');
    // Stopping: one node's final flush is in, another's not yet.
    expect(sessionPhase(session(open, [entry('a', 'Completed'), entry('b', 'Tracing')]))).toBe('Tracing');
    expect(sessionPhase(session(open, [entry('a', 'Completed'), entry('b', 'Completed')]))).toBe('Completed');
  });

  test('mixed nodes: one refusing an open session does not fail it, in whichever order they wrote', () => {
    const refused = entry('s390x-node', 'Failed', 'UnsupportedArchitecture');
    expect(sessionPhase(session(open, [refused, entry('amd64-node', 'Tracing')]))).toBe('Tracing');
    expect(sessionPhase(session(open, [entry('amd64-node', 'Tracing'), refused]))).toBe('Tracing');
    // Alone so far: another node may yet serve it.
    expect(sessionPhase(session(open, [refused]))).toBe('Pending');
    // Every agent's node refused it: no node can.
    expect(sessionPhase(session(open, [refused]), ['s390x-node'])).toBe('Failed');
    expect(sessionPhase(session(open, [refused]), ['s390x-node', 'amd64-node'])).toBe('Pending');
  });

  test("a pod session refused by its pod's node fails, with every refusal's message", () => {
    const s = session(pod, [entry('n1', 'Failed', 'KernelUnsupported')]);
    expect(sessionPhase(s)).toBe('Failed');
    expect(refusals(s)).toEqual([
      { node: 'n1', reason: 'KernelUnsupported', message: 'node "n1" cannot record capabilities sessions' },
    ]);
    expect(refusalMessage(s)).toBe('node "n1" cannot record capabilities sessions');
  });

  test('a session-wide refusal fails it on any node', () => {
    const s = {
      ...session(pod, [entry('n1', 'Tracing')]),
      status: {
        nodes: [entry('n1', 'Tracing')],
        conditions: [
          {
            type: 'Accepted',
            status: 'False' as const,
            reason: 'TargetOutsideNamespace',
            message: 'target namespace "x" is not the session\'s',
            lastTransitionTime: '2025-01-01T00:00:00Z',
          },
        ],
      },
    };
    expect(sessionPhase(s)).toBe('Failed');
    expect(refusals(s)).toEqual([expect.objectContaining({ reason: 'TargetOutsideNamespace' })]);
  });

  test("an older agent's entry, without a phase, is judged by its final flag", () => {
    const old = { ...entry('a', 'Tracing'), phase: undefined };
    expect(sessionPhase(session(open, [old]))).toBe('Pending');
    expect(sessionPhase(session(open, [{ ...old, final: true }]))).toBe('Completed');
  });
});
