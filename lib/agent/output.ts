/**
 * bpftrace `-f json` output → typed events (0.17 and 0.23 print the same records). One JSON object per line:
 *   {"type": "attached_probes", "data": {"probes": 7}}
 *   {"type": "printf", "data": "harden:armed 2856 0 /kubepods.slice/…\n"}
 *   {"type": "map", "data": {"@sc0": {"329,39": 1, "329,0": 1}}}   (tuple keys joined by ",")
 * Printing an empty map yields an empty line. Pure, so it is tested on captured output.
 */
import { isCapsMap, privilegesFromMaps, type PrivilegeEvent } from './caps-parse';
import { flowsFromMaps, isNetMap, type FlowRecord } from './net-parse';
import { EV_ARMED, EV_EXEC, EV_FILTER, EV_FULL, READY } from './program';

export type TraceEvent =
  | { kind: 'attached'; probes: number }
  | { kind: 'ready' }
  | { kind: 'armed'; cgroup: string; prefix: number; path: string }
  | { kind: 'exec'; cgroup: string }
  | { kind: 'filter'; cgroup: string }
  /** A map of these (e.g. "syscalls") overflowed in the interval just printed. */
  | { kind: 'full'; maps: string }
  /** bpftrace's output buffer overflowed: printed events (sets, lifecycle lines) were dropped. */
  | { kind: 'lost'; events: number }
  | { kind: 'syscalls'; pairs: { cgroup: string; nr: number }[] }
  | { kind: 'flows'; records: FlowRecord[] }
  | { kind: 'privileges'; events: PrivilegeEvent[] }
  | { kind: 'other'; line: string };

const SYSCALL_MAPS = new Set(['@sc0', '@sc1']);

function parsePrintf(data: string): TraceEvent[] {
  const out: TraceEvent[] = [];
  // Several printf calls may arrive in one record; each of ours ends with a newline.
  for (const line of data.split('\n')) {
    if (!line) continue;
    const [tag, ...rest] = line.split(' ');
    if (tag === READY) out.push({ kind: 'ready' });
    else if (tag === EV_ARMED && rest.length >= 3) {
      out.push({ kind: 'armed', cgroup: rest[0], prefix: Number(rest[1]), path: rest.slice(2).join(' ') });
    } else if (tag === EV_EXEC && rest[0]) out.push({ kind: 'exec', cgroup: rest[0] });
    else if (tag === EV_FILTER && rest[0]) out.push({ kind: 'filter', cgroup: rest[0] });
    else if (tag === EV_FULL && rest[0]) out.push({ kind: 'full', maps: rest[0] });
    else out.push({ kind: 'other', line });
  }
  return out;
}

function parseMap(data: Record<string, unknown>): TraceEvent[] {
  const out: TraceEvent[] = [];
  const net = Object.fromEntries(Object.entries(data).filter(([name]) => isNetMap(name)));
  if (Object.keys(net).length) out.push({ kind: 'flows', records: flowsFromMaps(net) });
  const caps = Object.fromEntries(Object.entries(data).filter(([name]) => isCapsMap(name)));
  if (Object.keys(caps).length) out.push({ kind: 'privileges', events: privilegesFromMaps(caps) });
  for (const [name, body] of Object.entries(data)) {
    if (!SYSCALL_MAPS.has(name) || !body || typeof body !== 'object') continue;
    const pairs: { cgroup: string; nr: number }[] = [];
    for (const key of Object.keys(body)) {
      const [cgroup, nr] = key.split(',');
      const n = Number(nr);
      if (/^[0-9]+$/.test(cgroup) && Number.isInteger(n) && n >= 0) pairs.push({ cgroup, nr: n });
    }
    out.push({ kind: 'syscalls', pairs });
  }
  return out;
}

export function parseOutputLine(line: string): TraceEvent[] {
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
  if (rec.type === 'printf' && typeof rec.data === 'string') return parsePrintf(rec.data);
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
    return parseMap(rec.data as Record<string, unknown>);
  }
  return [{ kind: 'other', line: text }];
}

/** stderr lines that are noise rather than failure (bpftrace warns about RLIMIT even when it works). */
export function isNoise(line: string): boolean {
  return /couldn't set RLIMIT_MEMLOCK/.test(line) || /WARNING: Addrspace mismatch/.test(line) || !line.trim();
}
