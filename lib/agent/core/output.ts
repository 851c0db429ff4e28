/**
 * bpftrace `-f json` output → typed events (0.17 and 0.23 print the same records). One JSON object per line:
 *   {"type": "attached_probes", "data": {"probes": 7}}
 *   {"type": "printf", "data": "harden:armed 2856 /kubepods.slice/…\n"}
 *   {"type": "map", "data": {"@sc0": {"329,39": 1, "329,0": 1}}}   (tuple keys joined by ",")
 * Printing an empty map yields an empty line. The core reads its own lifecycle lines; a map or a
 * printf tag belongs to the recorder that declared it, which reads it (see ./recorder). Pure, so
 * it is tested on captured output.
 */
import { EV_ARMED, EV_EXEC, EV_FILTER, EV_FULL, EV_TICK, READY } from './program';
import type { Attributed, Recorder } from './recorder';
import type { SessionType } from '../../session/types';

export type TraceEvent =
  | { kind: 'attached'; probes: number }
  | { kind: 'ready' }
  | { kind: 'armed'; cgroup: string; path: string }
  | { kind: 'exec'; cgroup: string }
  | { kind: 'filter'; cgroup: string }
  /** A map of these (e.g. "syscalls") overflowed in the interval just printed. */
  | { kind: 'full'; maps: string }
  /** An interval's print is complete (see ./program's EV_TICK). */
  | { kind: 'tick' }
  /** bpftrace's output buffer overflowed: printed events (sets, lifecycle lines) were dropped. */
  | { kind: 'lost'; events: number }
  /** What one recorder's maps or lines held: for that recorder's sessions alone. */
  | { kind: 'recorded'; recorder: SessionType; events: Attributed[] }
  | { kind: 'other'; line: string };

/** Reads output lines, handing each recorder what it owns. */
export class OutputReader {
  private readonly maps = new Map<string, Recorder>();
  private readonly tags = new Map<string, Recorder>();

  constructor(recorders: readonly Recorder[]) {
    for (const r of recorders) {
      for (const m of r.output.maps) this.maps.set(m, r);
      for (const t of r.output.tags ?? []) this.tags.set(t, r);
    }
  }

  private printf(data: string): TraceEvent[] {
    const out: TraceEvent[] = [];
    // Several printf calls may arrive in one record; each of ours ends with a newline.
    for (const line of data.split('\n')) {
      if (!line) continue;
      const [tag, ...rest] = line.split(' ');
      const owner = this.tags.get(tag);
      if (tag === READY) out.push({ kind: 'ready' });
      else if (tag === EV_ARMED && rest.length >= 2) {
        out.push({ kind: 'armed', cgroup: rest[0], path: rest.slice(1).join(' ') });
      } else if (tag === EV_EXEC && rest[0]) out.push({ kind: 'exec', cgroup: rest[0] });
      else if (tag === EV_FILTER && rest[0]) out.push({ kind: 'filter', cgroup: rest[0] });
      else if (tag === EV_FULL && rest[0]) out.push({ kind: 'full', maps: rest[0] });
      else if (tag === EV_TICK) out.push({ kind: 'tick' });
      else if (owner?.parseLine)
        out.push({ kind: 'recorded', recorder: owner.type, events: owner.parseLine(line) });
      else out.push({ kind: 'other', line });
    }
    return out;
  }

  /** One event per recorder that owns a map of the record (even an empty one: it printed). */
  private map(data: Record<string, unknown>): TraceEvent[] {
    const byOwner = new Map<Recorder, Record<string, unknown>>();
    for (const [name, body] of Object.entries(data)) {
      const owner = this.maps.get(name);
      if (owner) byOwner.set(owner, { ...byOwner.get(owner), [name]: body });
    }
    return [...byOwner].map(([r, maps]) => ({
      kind: 'recorded',
      recorder: r.type,
      events: r.parseMaps(maps),
    }));
  }

  parse(line: string): TraceEvent[] {
    const text = line.trim();
    if (!text) return [];
    let rec: { type?: unknown; data?: unknown };
    try {
      rec = JSON.parse(text) as { type?: unknown; data?: unknown };
    } catch {
      return [{ kind: 'other', line: text }];
    }
    if (rec.type === 'attached_probes') {
      const probes = (rec.data as { probes?: unknown } | undefined)?.probes;
      return [{ kind: 'attached', probes: typeof probes === 'number' ? probes : 0 }];
    }
    if (rec.type === 'printf' && typeof rec.data === 'string') return this.printf(rec.data);
    // 0.23 reports each update a full map refused (E2BIG); 0.17 says nothing (see program.ts).
    const err = rec as { helper?: unknown; retcode?: unknown };
    if (rec.type === 'helper_error' && err.helper === 'map_update_elem' && err.retcode === -7) {
      return [{ kind: 'full', maps: 'map' }];
    }
    if (rec.type === 'lost_events') {
      const events = (rec.data as { events?: unknown } | undefined)?.events;
      return [{ kind: 'lost', events: typeof events === 'number' ? events : 0 }];
    }
    if (rec.type === 'map' && rec.data && typeof rec.data === 'object') {
      return this.map(rec.data as Record<string, unknown>);
    }
    return [{ kind: 'other', line: text }];
  }
}

/** stderr lines that are noise rather than failure (bpftrace warns about RLIMIT even when it works). */
export function isNoise(line: string): boolean {
  return /couldn't set RLIMIT_MEMLOCK/.test(line) || /WARNING: Addrspace mismatch/.test(line) || !line.trim();
}
