/**
 * The bounded table of a network session's unique flows on this node, merged per pod for the
 * session status. Pure: pod resolution and the clock are passed in.
 */
import { isIP } from 'node:net';
import type { NodeRecord } from '../../../session/types';
import { heldIPs, podIPs } from '../../../kube/objects';
import type { SessionRecorder, SessionView } from '../../core/recorder';
import type { FlowRecord } from './parse';
import { flowKey, MAX_FLOWS_PER_NODE, type Flow } from './types';

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
export class FlowTable implements SessionRecorder<FlowRecord> {
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

  add(records: readonly FlowRecord[]): void {
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

  node(): Pick<NodeRecord, 'flows' | 'truncated'> {
    return { flows: this.flows(), truncated: this.truncated };
  }
}

/**
 * A session's table: egress by the sending cgroup's pod, ingress by the target pod that owns the
 * local address; taking up what the node wrote before.
 */
export function flowRecords(view: SessionView, previous: NodeRecord | undefined): FlowTable {
  const named = (name: string) => view.targetPods().find((p) => p.metadata.name === name);
  const table = new FlowTable({
    now: () => new Date(),
    podOfCgroup: (cg) => view.podOfCgroup(cg)?.metadata.name,
    // A hostNetwork pod's address is the node's: it would claim all of the node's traffic; a
    // finished pod's may be another namespace's pod's by now.
    podOfIP: (ip) =>
      view.targetPods().find((p) => !p.spec.hostNetwork && heldIPs(p).includes(ip))?.metadata.name,
    podIP: (name, family) => {
      const pod = named(name);
      return pod ? podIPs(pod).find((ip) => (ip.includes(':') ? 6 : 4) === family) : undefined;
    },
  });
  table.seed(previous?.flows ?? [], previous?.truncated);
  return table;
}
