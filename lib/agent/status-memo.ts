/**
 * What the agent last wrote into one session's status, so it writes only when something changed.
 * Every write comes back through the agent's own watch (and through every other node's); without
 * this, each write caused the next.
 */
import { createHash } from 'node:crypto';
import type { Condition } from '../session/types';

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** JSON with object keys sorted at every level, so equal content always gives equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

const digestOf = (content: unknown) => createHash('sha256').update(canonicalJson(content)).digest('hex');

export class StatusMemo {
  private digest?: string;
  private readonly current = new Map<string, Condition>();

  /** `previous`: the conditions an earlier agent wrote, so a restart keeps their transition times. */
  constructor(previous: readonly Condition[] = []) {
    for (const c of previous) this.current.set(c.type, c);
  }

  /** Stamps conditions; a condition's lastTransitionTime moves only when its status does. */
  conditions(list: readonly ConditionInput[], now: string): Condition[] {
    return list.map((c) => {
      const before = this.current.get(c.type);
      const stamped = {
        ...c,
        lastTransitionTime: before?.status === c.status ? before.lastTransitionTime : now,
      };
      this.current.set(c.type, stamped);
      return stamped;
    });
  }

  /** Whether `content` (what would be written, without the time of writing) equals the last write. */
  unchanged(content: unknown): boolean {
    return this.digest === digestOf(content);
  }

  wrote(content: unknown): void {
    this.digest = digestOf(content);
  }
}
