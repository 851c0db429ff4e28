/**
 * One worker process of the benchmark: the real agent Controller for each of its nodes, each with
 * its own Kube client (counted, see ./counting-kube), the real recorders, the newest bpftrace
 * dialect, a kernel with every probe, the agent's default flush and print intervals, and the
 * replay tracer (lib/agent/core/replay.ts) in place of bpftrace. It keeps an account of what the
 * replay fed, per pod, for the correctness check. Driven by messages from ../scale.ts.
 */
import { readFileSync } from 'node:fs';
import { CgroupLayout } from '../../../lib/agent/core/cgroups';
import { Controller } from '../../../lib/agent/core/controller';
import { DIALECTS } from '../../../lib/agent/core/dialect';
import type { KernelFacts } from '../../../lib/agent/core/kernel';
import type { TraceEvent } from '../../../lib/agent/core/output';
import { recordingLines, replayTracer } from '../../../lib/agent/core/replay';
import { parseAgentArgs } from '../../../lib/agent/main';
import { RECORDERS } from '../../../lib/agent/recorders';
import type { FlowRecord } from '../../../lib/agent/recorders/network/parse';
import type { SyscallEvent } from '../../../lib/agent/recorders/syscalls/parse';
import { Kube } from '../../../lib/kube/client';
import { resolveContext } from '../../../lib/kube/kubeconfig';
import { countRequests, type Call, type Tally } from './counting-kube';
import { cgroupsOf, type FleetNode, type FleetPod } from './fleet';

/** As test/unit/agent/fake-world's EVERY_PROBE: every recorder's route is served. */
const EVERY_PROBE: KernelFacts = { release: '6.18.0-bench', btf: true, missing: {}, members: {} };

export interface WorkerStart {
  kind: 'start';
  nodes: FleetNode[];
  kubeconfig: string;
  recordingFile: string;
  watchBytes: boolean;
}

/** What was fed for one pod: its syscall numbers, and its flow records as fed (before attribution). */
export interface Fed {
  pod: FleetPod;
  syscalls: number[];
  flows: FlowRecord[];
}

/** One agent's requests in the window asked for, and the watch events it received then. */
export interface AgentTally {
  calls: Call[];
  watch: { events: number; bytes: number };
}

export type ToWorker = WorkerStart | { kind: 'report'; from: number; to: number } | { kind: 'close' };
export type FromWorker =
  | { kind: 'started'; intervalMs: number; flushMs: number }
  | { kind: 'report'; agents: AgentTally[]; fed: Fed[]; programs: number }
  | { kind: 'closed' }
  | { kind: 'error'; message: string };

const send = (m: FromWorker) => process.send?.(m);

export function runWorker(): void {
  let agents: { controller: Controller; tally: Tally }[] = [];
  const fed = new Map<string, { pod: FleetPod; syscalls: Set<number>; flows: Map<string, FlowRecord> }>();
  const tracers: { programs: number }[] = [];

  async function start(m: WorkerStart): Promise<void> {
    const recording = recordingLines(readFileSync(m.recordingFile, 'utf8'));
    const dialect = DIALECTS[DIALECTS.length - 1];
    const args = parseAgentArgs([], { NODE_NAME: 'bench' });
    const flushMs = args.flushSeconds * 1000;
    const ctx = resolveContext({ kubeconfig: m.kubeconfig });
    agents = await Promise.all(
      m.nodes.map(async (node) => {
        const kube = await Kube.fromContext(ctx);
        const tally = countRequests(kube, m.watchBytes);
        const pods = cgroupsOf(node);
        for (const [, pod] of pods) fed.set(pod.name, { pod, syscalls: new Set(), flows: new Map() });
        const byIP = new Map(
          node.pods.flatMap(
            (p) =>
              [
                [p.ip4, p],
                [p.ip6, p],
              ] as [string, FleetPod][],
          ),
        );
        const observe = (e: TraceEvent) => {
          if (e.kind !== 'recorded') return;
          if (e.recorder === 'seccomp') {
            for (const s of e.events as SyscallEvent[]) {
              const f = fed.get(pods.get(s.cgroup)?.name ?? '');
              for (const nr of s.nrs) f?.syscalls.add(nr);
            }
          } else if (e.recorder === 'network') {
            for (const r of e.events as FlowRecord[]) {
              // Egress and UDP by the cgroup; TCP ingress by the pod's own address, as recorded.
              const pod = r.cgroup !== undefined ? pods.get(r.cgroup) : byIP.get(r.localIP);
              const f = fed.get(pod?.name ?? '');
              // One record per identity: counts differ between intervals, identities do not.
              f?.flows.set(JSON.stringify({ ...r, count: 0 }), r);
            }
          }
        };
        const controller = new Controller(kube, {
          node: node.name,
          arch: 'amd64',
          bpftrace: {
            binary: '/nonexistent/bpftrace',
            version: `bpftrace v${dialect.series} (replay)`,
            dialect,
          },
          recorders: RECORDERS,
          kernel: EVERY_PROBE,
          layout: new CgroupLayout({ mountPoint: node.mountPoint, root: '/' }, 'cgroupfs'),
          flushMs,
          intervalMs: args.intervalMs,
          log: process.env.SCALE_AGENT_LOG
            ? (msg) => process.stderr.write(`${node.name}: ${msg}\n`)
            : () => undefined,
          tracer: (hooks) => {
            const t = replayTracer({
              recording,
              recorders: RECORDERS,
              intervalMs: args.intervalMs,
              addresses: (cgroup) => {
                const p = pods.get(cgroup);
                return p && { ip4: p.ip4, ip6: p.ip6 };
              },
              observe,
            })(hooks);
            tracers.push(t);
            return t;
          },
        });
        await controller.start();
        return { controller, tally };
      }),
    );
    send({ kind: 'started', intervalMs: args.intervalMs, flushMs });
  }

  process.on('message', (m: ToWorker) => {
    const run = async () => {
      if (m.kind === 'start') await start(m);
      else if (m.kind === 'report')
        send({
          kind: 'report',
          agents: agents.map(({ tally }) => {
            const inWindow = <T extends { at: number }>(xs: T[]) =>
              xs.filter((x) => x.at >= m.from && x.at < m.to);
            const events = inWindow(tally.watchEvents);
            return {
              calls: inWindow(tally.calls),
              watch: { events: events.length, bytes: events.reduce((n, e) => n + e.bytes, 0) },
            };
          }),
          fed: [...fed.values()].map((f) => ({
            pod: f.pod,
            syscalls: [...f.syscalls],
            flows: [...f.flows.values()],
          })),
          programs: tracers.reduce((n, t) => n + t.programs, 0),
        });
      else if (m.kind === 'close') {
        await Promise.all(agents.map((a) => a.controller.close()));
        send({ kind: 'closed' });
        process.disconnect?.();
      }
    };
    run().catch((e: unknown) => send({ kind: 'error', message: (e as Error).stack ?? String(e) }));
  });
}
