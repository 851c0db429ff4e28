// Many agents against the real API server (issue 25 point 4): N real agent Controllers, each with
// its own node name and Kube client, their bpftrace replaced by the replay tracer
// (lib/agent/core/replay.ts, fed test/golden/agent/replay-recording.jsonl), serve one seccomp and
// one network session (-l app=scale) whose pods span all N nodes. Node and Pod objects are real
// (no kubelet: their status is written by ./scale/fleet), each agent's cgroup tree is a temporary
// directory in kubelet's cgroupfs layout. Sessions are made, awaited, stopped and read with the
// plugin's own code (lib/session, lib/seccomp, the network recorder's flowsOf).
//
// Per N it prints: API requests per second while tracing (the API server's apiserver_request_total,
// and each agent's own requests), what two flow readers read in that window (records listed every
// second, or followed by a watch), writes and bytes written per flush round, watch events the
// agents receive, the largest TraceSession (and TraceRecord, where that resource exists), stop →
// profile and flow list latency and what the stop's waits read, and whether the merged profile and
// the flows are exactly what was fed (PASS/FAIL; any FAIL, or a latency over 10 s, exits 1).
//
//   npm run bench -- scale [--agents 10,50,100] [--pods 3] [--trace-s 30] [--ready-s 120] [--workers 2] [--watch-bytes]
// Needs the local test cluster (scripts/bench/run brings it up, under the e2e lock).
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { RECORDERS } from '../../lib/agent/recorders';
import { flowsOf } from '../../lib/agent/recorders/network/session';
import { syscallRecordsOf } from '../../lib/agent/recorders/syscalls/session';
import { seccompResult } from '../../lib/cli/seccomp-result';
import { traceRecordCrd, traceSessionCrd } from '../../lib/deploy/crd';
import { ApiError, Kube } from '../../lib/kube/client';
import type { List } from '../../lib/kube/objects';
import { R, resourcePath } from '../../lib/kube/paths';
import { waitUntil } from '../../lib/kube/wait';
import { HardenError } from '../../lib/errors';
import { observationsOf } from '../../lib/seccomp/from-session';
import { buildProfiles } from '../../lib/seccomp/profile';
import {
  deleteSession,
  followSession,
  getSession,
  newSessionId,
  sessionPath,
} from '../../lib/session/client';
import { finishSession, startSession, type Progress } from '../../lib/session/lifecycle';
import type { SessionType, TraceSession } from '../../lib/session/types';
import { countRequests, type Tally } from './scale/counting-kube';
import { buildFleet, LABEL, tearDown, type Fleet } from './scale/fleet';
import { diffCounts, scrapeRequestsAndBytes, type RequestCounts } from './scale/metrics';
import { judge } from './scale/verdict';
import { runWorker, type AgentTally, type Fed, type FromWorker, type ToWorker } from './scale/worker';

const STOP_TARGET_MS = 10_000;

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};

const log = (m: string) => process.stderr.write(`scale: ${m}\n`);
const quiet: Progress = { progress: () => undefined, done: () => undefined, err: (t) => log(t) };
/** Ctrl-C or SIGTERM: waiting ends, and everything made is cleaned up on the way out. */
const interrupted = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => interrupted.abort());
/** Rejects when interrupted; its abort listener goes with it (the readers sleep every second). */
const sleep = (ms: number) => delay(ms, undefined, { signal: interrupted.signal });

/** A worker process and the messages it sends, awaited by kind. */
class Worker {
  private readonly waiting = new Map<string, (m: FromWorker) => void>();
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: FromWorker) => {
      if (m.kind === 'error') log(`worker ${child.pid}: ${m.message}`);
      const w = this.waiting.get(m.kind);
      this.waiting.delete(m.kind);
      w?.(m);
    });
  }
  ask<K extends FromWorker['kind']>(
    msg: ToWorker,
    reply: K,
    timeoutMs = 120_000,
  ): Promise<Extract<FromWorker, { kind: K }>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`worker ${this.child.pid}: no ${reply} in ${timeoutMs / 1000}s`)),
        timeoutMs,
      );
      this.waiting.set(reply, (m) => {
        clearTimeout(t);
        resolve(m as Extract<FromWorker, { kind: K }>);
      });
      this.child.send(msg);
    });
  }
}

/** The sessions' CRDs, as `deploy` applies them, where the cluster lacks them: the names this run made. */
async function ensureCrds(kube: Kube): Promise<string[]> {
  const made: string[] = [];
  for (const crd of [traceSessionCrd(), traceRecordCrd()]) {
    const path = resourcePath(R.crds, { name: crd.metadata.name });
    if (await kube.getOptional(path)) continue;
    await kube.apply(path, crd);
    made.push(crd.metadata.name);
    await waitUntil(
      async () => {
        const got = await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(path);
        const done =
          got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
        return { done, progress: '' };
      },
      {
        timeoutMs: 30_000,
        intervalMs: 200,
        onTimeout: () => new HardenError(`the CRD ${crd.metadata.name} was not established`),
      },
    );
  }
  return made;
}

/** The JSON size of every TraceSession, and of every TraceRecord where that resource exists. */
async function largestObjects(kube: Kube): Promise<{ kind: string; name: string; bytes: number }[]> {
  const sizes = async (kind: string, path: string) => {
    try {
      const list = await kube.get<List<{ metadata: { name: string; namespace?: string } }>>(path);
      return list.items.map((o) => ({
        kind,
        name: `${o.metadata.namespace}/${o.metadata.name}`,
        bytes: JSON.stringify(o).length,
      }));
    } catch (e) {
      if (e instanceof ApiError && e.statusCode === 404) return [];
      throw e;
    }
  };
  const all = [
    ...(await sizes('TraceSession', sessionPath())),
    ...(await sizes('TraceRecord', '/apis/harden.dev/v1alpha1/tracerecords')),
  ];
  const top = (kind: string) => all.filter((o) => o.kind === kind).sort((a, b) => b.bytes - a.bytes)[0];
  return ['TraceSession', 'TraceRecord'].flatMap((k) => (top(k) ? [top(k)] : []));
}

interface Figures {
  agents: number;
  pods: number;
  tracingMs: Record<string, number>;
  /** -1: not every node got there within readyS. */
  allNodesMs: number;
  tracingNodes: number;
  readyS: number;
  windowS: number;
  server: RequestCounts;
  /** The two flow readers in the window: records listed every second, or followed. */
  readers: {
    pollerLists: number;
    pollerListBytes: number;
    followerReads: number;
    followerEvents: number;
    followerEventBytes: number;
  };
  agentTallies: AgentTally[];
  flushMs: number;
  programs: number;
  largest: { kind: string; name: string; bytes: number }[];
  stopMs: Record<string, number>;
  /** Requests and bytes the API server answered from the stop to both results (all clients). */
  stopReads: { requests: RequestCounts; bytes: RequestCounts; tally: Tally };
  /** Per session type, each node's final write after the stop (ms, sorted). */
  finals: Record<string, number[]>;
  verdict: { ok: boolean; lines: string[] };
}

const fmt = (n: number, d = 1) => n.toFixed(d);
const kib = (b: number) => `${fmt(b / 1024)} KiB`;

function print(f: Figures): void {
  const out: string[] = [];
  const row = (k: string, v: string) => out.push(`  ${k.padEnd(44)} ${v}`);
  out.push(
    `\n=== ${f.agents} agents, ${f.pods} pods (one seccomp and one network session, -l app=scale) ===`,
  );
  row(
    'start → Tracing (startSession)',
    Object.entries(f.tracingMs)
      .map(([k, v]) => `${k} ${fmt(v / 1000)} s`)
      .join(', '),
  );
  row(
    'start → every node Tracing',
    f.allNodesMs >= 0
      ? `${fmt(f.allNodesMs / 1000)} s`
      : `FAIL: ${f.tracingNodes} of ${f.agents} within ${f.readyS} s`,
  );
  const serverTotal = [...f.server.values()].reduce((a, b) => a + b, 0);
  row(`API server requests/s (${fmt(f.windowS, 0)} s window, all clients)`, fmt(serverTotal / f.windowS));
  for (const [k, v] of [...f.server].sort((a, b) => b[1] - a[1]).slice(0, 8))
    row(`    ${k}`, `${fmt(v / f.windowS)}/s`);
  const r = f.readers;
  row(
    'flow reader listing records every second',
    `${fmt(r.pollerLists / f.windowS, 2)} lists/s, ${kib(r.pollerListBytes / f.windowS)}/s`,
  );
  row(
    'flow reader following them (list once, watch)',
    `${fmt(r.followerReads / f.windowS, 2)} session GETs/s, ${fmt(r.followerEvents / f.windowS, 2)} events/s, ${kib(r.followerEventBytes / f.windowS)}/s`,
  );
  const calls = f.agentTallies.flatMap((a) => a.calls);
  const writes = calls.filter((c) => !['GET', 'WATCH'].includes(c.method));
  const rounds = (f.windowS * 1000) / f.flushMs;
  row("agents' own requests/s (counted per client)", fmt(calls.length / f.windowS));
  const byKind = new Map<string, number>();
  for (const c of calls) byKind.set(`${c.method} ${c.what}`, (byKind.get(`${c.method} ${c.what}`) ?? 0) + 1);
  for (const [k, v] of [...byKind].sort((a, b) => b[1] - a[1]).slice(0, 5))
    row(`    ${k}`, `${fmt(v / f.windowS)}/s`);
  const bytes = writes.reduce((n, c) => n + c.bytes, 0);
  row(
    `writes per flush round (${f.flushMs / 1000} s)`,
    `${fmt(writes.length / rounds)} (${fmt(writes.length / rounds / f.agents, 2)} per agent)`,
  );
  row(
    'bytes written per flush round',
    `${kib(bytes / rounds)} (${kib(bytes / rounds / f.agents)} per agent)`,
  );
  row('largest write body', kib(Math.max(0, ...writes.map((c) => c.bytes))));
  const lat = writes
    .map((c) => c.ms)
    .filter((ms) => ms >= 0)
    .sort((a, b) => a - b);
  const pct = (p: number) =>
    lat.length ? `${lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]} ms` : '-';
  row('write latency (median/p90/max)', `${pct(0.5)} / ${pct(0.9)} / ${pct(1)}`);
  const events = f.agentTallies.reduce((n, a) => n + a.watch.events, 0);
  const watchBytes = f.agentTallies.reduce((n, a) => n + a.watch.bytes, 0);
  row(
    'watch events received/s (all agents)',
    `${fmt(events / f.windowS)}${watchBytes ? `, ${kib(watchBytes / f.windowS)}/s` : ''}`,
  );
  row('programs the agents switched to', String(f.programs));
  for (const o of f.largest) row(`largest ${o.kind}`, `${kib(o.bytes)} (${o.name})`);
  for (const [k, v] of Object.entries(f.stopMs))
    row(
      `stop → ${k}`,
      `${fmt(v / 1000, 2)} s${k === 'both' ? (v < STOP_TARGET_MS ? ' PASS (< 10 s)' : ' FAIL (≥ 10 s)') : ''}`,
    );
  // The API server counts no bytes for a watch: those are the events the stopping client received.
  const { requests, bytes: answered, tally } = f.stopReads;
  for (const what of ['LIST tracerecords', 'GET tracesessions'])
    row(`  ${what}, stop → both`, `${requests.get(what) ?? 0}, ${kib(answered.get(what) ?? 0)} answered`);
  row(
    '  WATCH tracerecords, stop → both',
    `${requests.get('WATCH tracerecords') ?? 0}, ${tally.watchEvents.length} events, ${kib(tally.watchEvents.reduce((n, e) => n + e.bytes, 0))}`,
  );
  for (const [type, at] of Object.entries(f.finals)) {
    const q = (p: number) => fmt(at[Math.min(at.length - 1, Math.floor(p * at.length))] / 1000, 2);
    row(`  ${type} final writes after stop (min/median/max)`, `${q(0)} / ${q(0.5)} / ${q(1)} s`);
  }
  for (const l of f.verdict.lines) out.push(`  ${l}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Starts a session with the plugin's own code, timing create → Tracing. */
async function start(kube: Kube, namespace: string, type: SessionType, signal: AbortSignal) {
  const id = newSessionId(type === 'seccomp' ? 'sc' : 'np');
  const t0 = Date.now();
  const session = await startSession(kube, quiet, {
    namespace,
    id,
    type,
    target: { selector: { matchLabels: LABEL } },
    timeoutMs: 120_000,
    signal,
  });
  return { session, ms: Date.now() - t0 };
}

async function runOnce(
  admin: Kube,
  agents: number,
  perNode: number,
  opts: { traceS: number; readyS: number; workers: number; watchBytes: boolean },
): Promise<Figures> {
  const { signal } = interrupted;
  let fleet: Fleet | undefined;
  const workers: Worker[] = [];
  const sessions: TraceSession[] = [];
  try {
    fleet = await buildFleet(admin, agents, perNode, log);
    const namespace = fleet.namespace;
    const n = Math.min(opts.workers, agents);
    for (let i = 0; i < n; i++)
      workers.push(new Worker(fork(__filename, ['--worker'], { stdio: 'inherit' })));
    const started = await Promise.all(
      workers.map((w, i) =>
        w.ask(
          {
            kind: 'start',
            nodes: fleet!.nodes.filter((_, j) => j % n === i),
            kubeconfig: process.env.KUBECONFIG ?? '',
            recordingFile: join(
              process.env.HARDEN_REPO_ROOT ?? process.cwd(),
              'test/golden/agent/replay-recording.jsonl',
            ),
            watchBytes: opts.watchBytes,
          },
          'started',
        ),
      ),
    );
    log(`${agents} agents started in ${n} workers`);
    const t0 = Date.now();
    const [sc, np] = await Promise.all([
      start(admin, namespace, 'seccomp', signal),
      start(admin, namespace, 'network', signal),
    ]);
    sessions.push(sc.session, np.session);
    // Every node has written its entry, Tracing: the steady state the window measures. When that
    // does not come in time, the window measures the fleet as it is (how far it got is printed).
    const late = new HardenError('late');
    let tracingNodes = 0;
    await waitUntil(
      async () => {
        const all = await Promise.all(
          sessions.map((s) => getSession(admin, namespace, s.metadata.name, s.spec.type)),
        );
        tracingNodes = Math.min(
          ...all.map((s) => (s.status?.nodes ?? []).filter((x) => x.phase === 'Tracing').length),
        );
        return { done: tracingNodes === agents, progress: '' };
      },
      { timeoutMs: opts.readyS * 1000, intervalMs: 1000, signal, onTimeout: () => late },
    ).catch((e: unknown) => {
      if (e !== late) throw e;
    });
    const allNodesMs = tracingNodes === agents ? Date.now() - t0 : -1;
    log(
      `${tracingNodes} of ${agents} nodes tracing (both sessions) after ${fmt((Date.now() - t0) / 1000)} s; measuring for ${opts.traceS} s`,
    );
    // Two readers of the network session's flows every second, as `netpol monitor` and `record`
    // read them, side by side in the window: one following its records (list once, then a watch),
    // one listing them on every read (as both did before). Each has a client of its own.
    const follower = await Kube.connect({});
    const followerTally = countRequests(follower, true);
    const poller = await Kube.connect({});
    const pollerTally = countRequests(poller, false);
    const followed = await followSession(follower, namespace, np.session.metadata.name, 'network');
    const windowOver = new AbortController();
    const everySecond = async (read: () => Promise<unknown>) => {
      while (!windowOver.signal.aborted) {
        await read();
        await sleep(1000);
      }
    };
    const atWindow = scrapeRequestsAndBytes();
    const before = atWindow.requests;
    const from = Date.now();
    const reading = Promise.all([
      everySecond(() => followed.read()),
      everySecond(() => getSession(poller, namespace, np.session.metadata.name, 'network')),
    ]);
    await sleep(opts.traceS * 1000);
    windowOver.abort();
    await reading;
    followed.close();
    const to = Date.now();
    const afterWindow = scrapeRequestsAndBytes();
    const server = diffCounts(before, afterWindow.requests);
    const windowBytes = diffCounts(atWindow.bytes, afterWindow.bytes);
    const readers = {
      pollerLists: pollerTally.calls.filter((c) => c.what === 'tracerecords').length,
      // Only the poller lists records in the window (the follower listed before it).
      pollerListBytes: windowBytes.get('LIST tracerecords') ?? 0,
      followerReads: followerTally.calls.filter((c) => c.what === 'tracesessions').length,
      followerEvents: followerTally.watchEvents.length,
      followerEventBytes: followerTally.watchEvents.reduce((n, e) => n + e.bytes, 0),
    };
    const reports = await Promise.all(workers.map((w) => w.ask({ kind: 'report', from, to }, 'report')));
    const largest = await largestObjects(admin);

    // Stop → what `seccomp stop` prints and what the flow log is written from, each by the plugin's own path.
    // Stopped and read by a client of its own, so what the waits read is counted apart.
    const stopper = await Kube.connect({});
    const stopTally = countRequests(stopper, true);
    const atStop = scrapeRequestsAndBytes();
    const tStop = Date.now();
    const stopMs: Record<string, number> = {};
    const finals: Record<string, number[]> = {};
    const finish = async (s: TraceSession) => {
      const done = await finishSession(stopper, quiet, s, { timeoutMs: 60_000, signal });
      if (done.pending.length) log(`${s.metadata.name}: no final flush from ${done.pending.length} nodes`);
      // When each node's final write happened, after the stop: how the latency is made up.
      const at = (done.session.status?.nodes ?? [])
        .map((x) => Date.parse(x.lastFlush ?? '') - tStop)
        .sort((a, b) => a - b);
      finals[s.spec.type] = at;
      return done.session;
    };
    const [seccomp, network] = await Promise.all([
      finish(sessions[0]).then(async (s) => {
        const records = syscallRecordsOf(s);
        const { built: profiles } = buildProfiles(observationsOf(namespace, records, 'runc'));
        // The text `kubectl harden seccomp stop` prints (the same build, through the verb's renderer).
        await seccompResult.render(s, { output: 'json', runtime: 'runc' }, admin);
        stopMs['seccomp profile'] = Date.now() - tStop;
        return { records, profiles };
      }),
      finish(sessions[1]).then((s) => {
        const { flows } = flowsOf(s);
        stopMs['flow list'] = Date.now() - tStop;
        return flows;
      }),
    ]);
    stopMs.both = Date.now() - tStop;
    const afterStop = scrapeRequestsAndBytes();
    const stopReads = {
      requests: diffCounts(atStop.requests, afterStop.requests),
      bytes: diffCounts(atStop.bytes, afterStop.bytes),
      tally: stopTally,
    };
    // Everything fed, now that no more is: after the final flushes.
    const fed: Fed[] = (
      await Promise.all(workers.map((w) => w.ask({ kind: 'report', from, to }, 'report')))
    ).flatMap((r) => r.fed);
    return {
      agents,
      pods: agents * perNode,
      tracingMs: { seccomp: sc.ms, network: np.ms },
      allNodesMs,
      tracingNodes,
      readyS: opts.readyS,
      windowS: (to - from) / 1000,
      server,
      readers,
      agentTallies: reports.flatMap((r) => r.agents),
      flushMs: started[0].flushMs,
      programs: reports.reduce((k, r) => k + r.programs, 0),
      largest,
      stopMs,
      stopReads,
      finals,
      verdict: judge(fed, seccomp.profiles, seccomp.records, network),
    };
  } finally {
    await Promise.all(
      workers.map(async (w) => {
        await w.ask({ kind: 'close' }, 'closed', 60_000).catch((e: Error) => log(e.message));
        w.child.kill();
      }),
    );
    for (const s of sessions)
      await deleteSession(admin, s.metadata.namespace, s.metadata.name).catch(() => undefined);
    await tearDown(admin, fleet).catch((e: Error) => log(`cleanup: ${e.message}`));
  }
}

async function main(): Promise<number> {
  const counts = arg('agents', '10,50,100').split(',').map(Number);
  const perNode = Number(arg('pods', '3'));
  const opts = {
    traceS: Number(arg('trace-s', '30')),
    readyS: Number(arg('ready-s', '120')),
    workers: Number(arg('workers', '2')),
    watchBytes: process.argv.includes('--watch-bytes'),
  };
  const admin = await Kube.connect({});
  // A crashed earlier run's nodes would hold pods of no namespace: gone before anything starts.
  await tearDown(admin, undefined);
  const madeCrds = await ensureCrds(admin);
  log(`recorders: ${RECORDERS.map((r) => r.type).join(', ')}; ${perNode} pods per node`);
  let ok = true;
  try {
    for (const n of counts) {
      if (interrupted.signal.aborted) break;
      // One size failing (a timeout) says something about that size; the others are still measured.
      try {
        const f = await runOnce(admin, n, perNode, opts);
        print(f);
        ok &&= f.verdict.ok && f.stopMs.both < STOP_TARGET_MS && f.allNodesMs >= 0;
      } catch (e) {
        process.stdout.write(`\n=== ${n} agents: FAIL: ${(e as Error).message}\n`);
        ok = false;
      }
    }
  } finally {
    for (const name of madeCrds)
      await admin.request('DELETE', resourcePath(R.crds, { name })).catch(() => undefined);
  }
  process.stdout.write(`\n${ok ? 'PASS' : 'FAIL'}\n`);
  return ok ? 0 : 1;
}

if (process.argv.includes('--worker')) runWorker();
else
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      log((e as Error).stack ?? String(e));
      process.exit(1);
    },
  );
