import type { Condition } from './types';

export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

/**
 * Conditions as Kubernetes keeps them: lastTransitionTime is when the status last changed, so it
 * carries over from `previous` while a condition's status stays the same (reason and message may
 * change without a transition). Messages are bounded, as the API's conventions ask.
 */
export function transition(
  previous: readonly Condition[] | undefined,
  next: readonly ConditionUpdate[],
  now: string,
): Condition[] {
  return next.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    return {
      ...c,
      message: c.message.slice(0, 2000),
      lastTransitionTime: before && before.status === c.status ? before.lastTransitionTime : now,
    };
  });
}
