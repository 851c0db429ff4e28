// kubectl rollout status's rules, from the object alone.
import { rolloutState, type RolloutObject } from '../../../lib/cli/rollout';

const obj = (
  spec: RolloutObject['spec'],
  status: RolloutObject['status'],
  generation = 2,
): RolloutObject => ({
  metadata: { name: 'x', generation },
  spec,
  status: { observedGeneration: 2, ...status },
});

describe('rolloutState', () => {
  test('a template the controller has not seen yet is not rolled out', () => {
    expect(
      rolloutState(
        'Deployment',
        obj(
          { replicas: 1 },
          { observedGeneration: 1, updatedReplicas: 1, replicas: 1, availableReplicas: 1 },
        ),
      ),
    ).toMatchObject({ done: false });
  });
  test('Deployment: updated, old ones gone, available', () => {
    expect(
      rolloutState('Deployment', obj({ replicas: 2 }, { updatedReplicas: 1, replicas: 2 })).progress,
    ).toBe('1 of 2 new replicas updated');
    expect(
      rolloutState('Deployment', obj({ replicas: 2 }, { updatedReplicas: 2, replicas: 3 })).progress,
    ).toBe('1 old replicas pending termination');
    expect(
      rolloutState(
        'Deployment',
        obj({ replicas: 2 }, { updatedReplicas: 2, replicas: 2, availableReplicas: 1 }),
      ).done,
    ).toBe(false);
    expect(
      rolloutState(
        'Deployment',
        obj({ replicas: 2 }, { updatedReplicas: 2, replicas: 2, availableReplicas: 2 }),
      ).done,
    ).toBe(true);
  });
  test('Deployment past its progress deadline has failed', () => {
    const stuck = obj(
      { replicas: 1 },
      {
        conditions: [
          {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: 'ReplicaSet "x-1" has timed out progressing.',
          },
        ],
      },
    );
    expect(rolloutState('Deployment', stuck).failed).toBe('ReplicaSet "x-1" has timed out progressing.');
  });
  test('StatefulSet: ready, and every pod at the update revision', () => {
    expect(
      rolloutState(
        'StatefulSet',
        obj(
          { replicas: 2 },
          { readyReplicas: 2, currentRevision: 'a', updateRevision: 'b', updatedReplicas: 1 },
        ),
      ).done,
    ).toBe(false);
    expect(
      rolloutState(
        'StatefulSet',
        obj({ replicas: 2 }, { readyReplicas: 2, currentRevision: 'b', updateRevision: 'b' }),
      ).done,
    ).toBe(true);
  });
  test('DaemonSet: every scheduled pod updated and available', () => {
    expect(
      rolloutState(
        'DaemonSet',
        obj({}, { desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberAvailable: 3 }),
      ).progress,
    ).toBe('2 of 3 updated pods scheduled');
    expect(
      rolloutState(
        'DaemonSet',
        obj({}, { desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 }),
      ).done,
    ).toBe(true);
  });
});
