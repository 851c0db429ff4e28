/**
 * Network-session output of bpftrace `-f json` → flow records (merged per pod by ./record). Pure.
 *
 * A flow map prints as one line, tuple keys joined by "," (addresses never contain one):
 *   {"type": "map", "data": {"@tcpe1": {"4756,::ffff:10.250.0.2,::ffff:10.250.0.1,80": 1}}}
 */
import { isIP } from 'node:net';
import { unmapIPv4 } from '../../../ip';
import { kindsOfMaps } from '../../core/program';
import { NET_MAPS, type NetMapKind } from './program';
import type { FlowTuple } from './types';

/** A tuple as printed by the program; localIP is "" when the kernel did not know it (UDP egress). */
export interface FlowRecord extends FlowTuple {
  /** cgroup id (decimal, as elsewhere in the agent) of the task that sent, or received (UDP). */
  cgroup?: string;
}

const KIND_OF_MAP = kindsOfMaps(NET_MAPS);

/** The address as a policy names it (v4-mapped IPv6 as IPv4), or undefined when it is none. */
export function normalizeIP(ip: string): string | undefined {
  const out = unmapIPv4(ip);
  return isIP(out) ? out : undefined;
}

const port = (s: string): number | undefined => {
  const n = Number(s);
  return /^[0-9]+$/.test(s) && n <= 65535 ? n : undefined;
};
const cgroupId = (s: string): string | undefined => (/^[0-9]+$/.test(s) ? s : undefined);

/** One map entry → a record, or undefined if it does not have the shape its map promises. */
function record(kind: NetMapKind, key: string, value: unknown): FlowRecord | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) return undefined;
  const f = key.split(',');
  if (kind === 'tcpEgress' && f.length === 4) {
    const [cgroup, l, r, p] = [cgroupId(f[0]), normalizeIP(f[1]), normalizeIP(f[2]), port(f[3])];
    if (cgroup === undefined || !l || !r || p === undefined) return undefined;
    return {
      cgroup,
      direction: 'egress',
      proto: 'TCP',
      localIP: l,
      localPort: 0,
      remoteIP: r,
      remotePort: p,
      count: value,
    };
  }
  if (kind === 'tcpIngress' && f.length === 3) {
    const [l, p, r] = [normalizeIP(f[0]), port(f[1]), normalizeIP(f[2])];
    if (!l || p === undefined || !r) return undefined;
    return {
      direction: 'ingress',
      proto: 'TCP',
      localIP: l,
      localPort: p,
      remoteIP: r,
      remotePort: 0,
      count: value,
    };
  }
  if (kind === 'udpEgress' && f.length === 3) {
    const [cgroup, r, p] = [cgroupId(f[0]), normalizeIP(f[1]), port(f[2])];
    if (cgroup === undefined || !r || p === undefined) return undefined;
    return {
      cgroup,
      direction: 'egress',
      proto: 'UDP',
      localIP: '',
      localPort: 0,
      remoteIP: r,
      remotePort: p,
      count: value,
    };
  }
  if (kind === 'udpIngress' && f.length === 3) {
    // The receiving task's cgroup: a server's datagrams are attributed to it like egress.
    const [cgroup, p, r] = [cgroupId(f[0]), port(f[1]), normalizeIP(f[2])];
    if (cgroup === undefined || !p || !r) return undefined;
    return {
      cgroup,
      direction: 'ingress',
      proto: 'UDP',
      localIP: '',
      localPort: p,
      remoteIP: r,
      remotePort: 0,
      count: value,
    };
  }
  return undefined;
}

/** The `data` of a `{"type": "map"}` record → flow records; maps that are not flow maps give none. */
export function flowsFromMaps(data: Record<string, unknown>): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (const [name, body] of Object.entries(data)) {
    const kind = KIND_OF_MAP.get(name);
    if (!kind || !body || typeof body !== 'object') continue;
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      const r = record(kind, key, value);
      if (r) out.push(r);
    }
  }
  return out;
}

/** One line of bpftrace output → its flow records (none for other lines, including non-JSON). */
export function parseNetLine(line: string): FlowRecord[] {
  const text = line.trim();
  if (!text.startsWith('{')) return [];
  let rec: { type?: unknown; data?: unknown };
  try {
    rec = JSON.parse(text) as { type?: unknown; data?: unknown };
  } catch {
    return [];
  }
  if (rec.type !== 'map' || !rec.data || typeof rec.data !== 'object') return [];
  return flowsFromMaps(rec.data as Record<string, unknown>);
}
