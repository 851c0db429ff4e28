import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { HardenError, INTERRUPTED } from '../errors';
import type { Deps } from './context';
import { openFlowRecorder, type FlowRecorder } from './flow-recorder';
import { deleteSession, followSession, getSession, newSessionId, requireDeployed } from '../session/client';
import { finishSession, startSession } from '../session/lifecycle';
import { resolveTargets } from '../session/targets';
import type { TraceSession } from '../session/types';

export interface NetpolMonitorOptions {
  pod?: string;
  selector?: string;
  all?: boolean;
  /** The flow log file; undefined or "-" writes it to stdout. */
  output?: string;
  /** Stop after this long; undefined: until Ctrl-C. */
  durationMs?: number;
  /** How long to wait for the agents to start tracing. */
  startTimeoutMs: number;
  /** How long to wait, after the stop, for every node's final flush. */
  flushTimeoutMs: number;
  /** A log some node's final flush is missing from still exits 0 (with the warning). */
  acceptPartial: boolean;
  /** A log with gaps (a target not traced for a while) still exits 0 (each gap named). */
  acceptGaps: boolean;
  /** A log from a node whose agent dropped flows beyond its bound still exits 0 (the node named). */
  acceptTruncated: boolean;
  /** How often the session's status is read while monitoring. */
  pollMs?: number;
}

export async function runNetpolMonitor(
  opts: NetpolMonitorOptions,
  { kube, io, interrupt }: Deps,
): Promise<void> {
  const namespace = kube.namespace;
  await requireDeployed(kube);
  const { target } = await resolveTargets(kube, namespace, opts);

  const output = opts.output && opts.output !== '-' ? opts.output : undefined;
  let fd: number | undefined;
  try {
    if (output) fd = openSync(output, 'w');
  } catch (e) {
    throw new HardenError(
      `cannot write the flow log ${output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const closeLog = () => {
    if (fd === undefined) return;
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
  };
  // One write per line, so Ctrl-C or a kill never leaves half a line in the file. The view is
  // complete before the first flow arrives, so identities resolve while fresh.
  let recorder: FlowRecorder;
  try {
    recorder = await openFlowRecorder(
      kube,
      io,
      namespace,
      fd === undefined ? (line) => io.out(line) : (line) => void writeSync(fd as number, line),
    );
  } catch (e) {
    closeLog();
    if (output) rmSync(output, { force: true });
    throw e;
  }
  const { writer, gaps, truncated } = recorder;

  const id = newSessionId('np');
  const startup = interrupt();
  try {
    await startSession(kube, io, {
      namespace,
      id,
      type: 'network',
      target,
      timeoutMs: opts.startTimeoutMs,
      signal: startup.signal,
    });
  } catch (e) {
    recorder.close();
    closeLog();
    if (output) rmSync(output, { force: true }); // no half-made log behind a failed start
    throw e;
  } finally {
    startup.dispose();
  }
  const forHow = opts.durationMs ? ` for ${opts.durationMs / 1000}s` : '';
  io.err(`monitoring ${namespace}: session ${id}${forHow}; Ctrl-C ends it`);

  const record = async (sess: TraceSession) => {
    await recorder.record(sess);
    io.progress(`flows ${recorder.flows} · peers resolved ${writer.peers}`);
  };

  let interruptedWhile: 'monitoring' | 'flushing' | undefined;
  let pending: string[] = [];
  try {
    const ended = deferred();
    const monitoring = interrupt();
    const timer = opts.durationMs ? setTimeout(() => ended.resolve(), opts.durationMs) : undefined;
    monitoring.signal.addEventListener('abort', () => {
      interruptedWhile = 'monitoring';
      ended.resolve();
    });
    // Each node's record is read as it changes (a watch), not every record on every poll.
    const followed = await followSession(kube, namespace, id, 'network');
    try {
      while (!ended.settled) {
        await record(await followed.read());
        await Promise.race([ended.promise, sleep(opts.pollMs ?? 1000)]);
      }
    } finally {
      followed.close();
      if (timer) clearTimeout(timer);
      monitoring.dispose();
    }
    // Collect what the agents still hold: stop, then wait for every node's final flush. A fresh
    // interrupt, so Ctrl-C here (after --timeout, or a second one) ends the wait and is not lost.
    const flushing = interrupt();
    try {
      const session = await getSession(kube, namespace, id, 'network');
      const finished = await finishSession(kube, io, session, {
        timeoutMs: opts.flushTimeoutMs,
        signal: flushing.signal,
      });
      await record(finished.session);
      pending = finished.pending;
      if (finished.interrupted) interruptedWhile = 'flushing';
    } finally {
      flushing.dispose();
    }
  } finally {
    io.done();
    recorder.close();
    await deleteSession(kube, namespace, id).catch(() => undefined);
    closeLog();
  }
  const where = output ? ` in ${output}` : '';
  io.err(
    `${interruptedWhile === 'monitoring' ? 'stopped' : 'done'}: ${recorder.flows} flows, ${writer.peers} peers, ${writer.lines} lines${where}`,
  );
  if (interruptedWhile === 'flushing' || pending.length) {
    const nodes = pending.length ? pending.join(', ') : 'some nodes';
    const message =
      `the log${where} is partial: no final flush from ${nodes}` +
      (interruptedWhile === 'flushing'
        ? ' (interrupted while waiting)'
        : ` within ${opts.flushTimeoutMs / 1000}s`) +
      ", so connections in those nodes' last interval may be missing";
    if (interruptedWhile === 'flushing') throw new HardenError(message, undefined, INTERRUPTED);
    if (!opts.acceptPartial) {
      throw new HardenError(
        message,
        'Check the agents with kubectl harden status; pass --accept-partial to accept such a log (exit 0).',
      );
    }
    io.err(`warning: ${message}`);
  }
  if (gaps.count && !opts.acceptGaps) {
    throw new HardenError(
      `the log${where} has ${gaps.count} gap${gaps.count > 1 ? 's' : ''} (listed above): connections made then may be missing from it, and policies made from it would deny them`,
      'Monitor again, or pass --accept-gaps to take the log as it is (exit 0); netpol report and verify name its gaps too.',
    );
  }
  if (truncated.size && !opts.acceptTruncated) {
    throw new HardenError(
      `the log${where} lacks flows that ${[...truncated].sort().join(', ')} dropped beyond the agent's bound (listed above)`,
      'Monitor fewer pods or for less time, or pass --accept-truncated to take the log as it is (exit 0).',
    );
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function deferred() {
  let resolve!: () => void;
  const d = {
    settled: false,
    promise: new Promise<void>((r) => (resolve = r)),
    resolve: () => {
      d.settled = true;
      resolve();
    },
  };
  return d;
}
