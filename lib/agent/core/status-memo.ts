/**
 * What the agent last wrote into one session's status, so it writes only when something changed.
 * Every write comes back through the agent's own watch (and through every other node's); without
 * this, each write caused the next.
 */
import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level, so equal content always gives equal text; keys in
 * `omit` are left out at every level.
 */
export function canonicalJson(value: unknown, omit: ReadonlySet<string> = new Set()): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>)
            .filter(([k]) => !omit.has(k))
            .sort(([a], [b]) => (a < b ? -1 : 1)),
        )
      : v,
  );
}

export class StatusMemo {
  private digest?: string;
  private readonly omit: ReadonlySet<string>;

  /** `omit`: keys whose changes alone this memo does not see. */
  constructor(omit: readonly string[] = []) {
    this.omit = new Set(omit);
  }

  private digestOf(content: unknown): string {
    return createHash('sha256').update(canonicalJson(content, this.omit)).digest('hex');
  }

  /** Whether `content` (what would be written, without the time of writing) equals the last write. */
  unchanged(content: unknown): boolean {
    return this.digest === this.digestOf(content);
  }

  wrote(content: unknown): void {
    this.digest = this.digestOf(content);
  }
}
