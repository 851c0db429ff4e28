/**
 * Network-session output of bpftrace 0.17 `-f json` → flow records, and the bounded table that
 * merges them per pod for the session status. Pure: pod resolution and the clock are passed in.
 *
 * A flow map prints as one line, tuple keys joined by "," (addresses never contain one):
 *   {"type": "map", "data": {"@tcpe1": {"4756,::ffff:10.250.0.2,::ffff:10.250.0.1,80": 1}}}
 */
import { isIP } from 'node:net';
import { unmapIPv4 } from '../ip';
import { flowKey, MAX_FLOWS_PER_NODE, type FlowTuple } from '../session/types';
import type { Flow } from '../session/types';
import { NET_MAPS, type NetMapKind } from './net-program';
import { kindsOfMaps } from './program';

/** A tuple as printed by the program; localIP is "" when the kernel did not know it (UDP egress). */
export interface FlowRecord extends FlowTuple {
  /** cgroup id (decimal, as elsewhere in the agent) of the task that sent, or received (UDP). */
  cgroup?: string;
}

const KIND_OF_MAP = kindsOfMaps(NET_MAPS);

export function isNetMap(name: string): boolean {
  return KIND_OF_MAP.has(name);
}

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

export interface FlowTableOptions {
  /** The clock for firstSeen/lastSeen. */
  now: () => Date;
  /** The pod a cgroup belongs to: egress attribution. */
  podOfCgroup: (cgroup: string) => string | undefined;
  /** The pod that owns a local address: ingress attribution. */
  podOfIP: (ip: string) => string | undefined;
  /** The pod's own address of a family, for a flow whose local address the kernel did not know. */
  podIP?: (pod: string, family: 4 | 6) => string | undefined;
  /** At most this many unique flows; more set `truncated` (default: the CRD's MAX_FLOWS_PER_NODE). */
  cap?: number;
}

const isLoopback = (ip: string) => ip === '::1' || ip.startsWith('127.');

/**
 * Unique flows per pod with merged counts. Bounded: a new flow beyond the cap is dropped and
 * `truncated` set, while counts of kept flows stay exact. Loopback is left out (no NetworkPolicy
 * applies to it), and so is what no current pod claims (counted in `unattributed`).
 */
export class FlowTable {
  private readonly table = new Map<string, Flow>();
  private readonly cap: number;
  truncated = false;
  unattributed = 0;

  constructor(private readonly opts: FlowTableOptions) {
    this.cap = opts.cap ?? MAX_FLOWS_PER_NODE;
  }

  get size(): number {
    return this.table.size;
  }

  /** Takes back what an earlier agent wrote for this node, so a restart keeps its flows. */
  seed(flows: Iterable<Flow>, truncated = false): void {
    for (const f of flows) this.table.set(flowKey(f), { ...f });
    this.truncated ||= truncated;
  }

  add(records: Iterable<FlowRecord>): void {
    const now = this.opts.now().toISOString();
    for (const r of records) {
      if (isLoopback(r.remoteIP) || isLoopback(r.localIP)) continue;
      // By the task when the kernel ran in it (egress, UDP receives); else by the local address.
      const pod = r.cgroup !== undefined ? this.opts.podOfCgroup(r.cgroup) : this.opts.podOfIP(r.localIP);
      if (pod === undefined) {
        this.unattributed += r.count;
        continue;
      }
      const family = isIP(r.remoteIP) === 6 ? 6 : 4;
      const localIP = r.localIP || this.opts.podIP?.(pod, family) || (family === 6 ? '::' : '0.0.0.0');
      const base = {
        pod,
        direction: r.direction,
        proto: r.proto,
        localIP,
        localPort: r.localPort,
        remoteIP: r.remoteIP,
        remotePort: r.remotePort,
      };
      const key = flowKey(base);
      const seen = this.table.get(key);
      if (seen) {
        seen.count += r.count;
        seen.lastSeen = now;
      } else if (this.table.size >= this.cap) {
        this.truncated = true;
      } else {
        this.table.set(key, { ...base, count: r.count, firstSeen: now, lastSeen: now });
      }
    }
  }

  /** The flows, sorted so that two runs compare cleanly. Copies: the table keeps counting. */
  flows(): Flow[] {
    return [...this.table.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, f]) => ({ ...f }));
  }
}
