/**
 * What the agent last wrote into one session's status, so it writes only when something changed.
 * Every write comes back through the agent's own watch (and through every other node's); without
 * this, each write caused the next.
 */
import { createHash } from 'node:crypto';

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

  /** Whether `content` (what would be written, without the time of writing) equals the last write. */
  unchanged(content: unknown): boolean {
    return this.digest === digestOf(content);
  }

  wrote(content: unknown): void {
    this.digest = digestOf(content);
  }
}
