/**
 * One lifecycle for every session type: create → wait until an agent traces → delete on failure;
 * stop → wait for every node's final flush. The verbs (seccomp, netpol, …) differ only in what they
 * make of the status afterwards.
 */
import { HardenError, INTERRUPTED } from '../errors';
import type { Kube } from '../kube/client';
import { waitUntil } from '../kube/wait';
import { listAgentPods } from './agents';
import { createSession, deleteSession, followSession, stopSession, type SessionMeta } from './client';
import { refusalMessage, refusals, sessionPhase, type Refusal } from './phase';
import type { SessionPhase, SessionType, TraceSession, TraceTarget } from './types';

/** Where waiting shows itself: a line that rewrites itself on a terminal, ended by done(). */
export interface Progress {
  progress(text: string): void;
  done(): void;
  /** A warning: the wait goes on. */
  err(text: string): void;
}

export interface SessionRef {
  namespace: string;
  id: string;
  type: SessionType;
}

/**
 * The session cannot trace anywhere: every node that could serve it refused it, or bpftrace cannot
 * attach there. What it names is the session's own; a caller running several kinds at once may go
 * on with the others.
 */
export class SessionRefused extends HardenError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly refusals: Refusal[],
  ) {
    super(message, hint);
  }
}

/** Waits until an agent has attached a program for the session, or it failed or timed out. */
export async function waitTracing(
  kube: Kube,
  progress: Progress,
  ref: SessionRef,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const { namespace, id, type } = ref;
  // An open session fails only when every agent refused it: which nodes run one.
  const agentNodes = await listAgentPods(kube).then(
    (pods) => pods.map((p) => p.spec.nodeName).filter((n): n is string => Boolean(n)),
    () => undefined, // tracers need no rights on the agent's namespace
  );
  const warned = new Set<string>();
  const followed = await followSession(kube, namespace, id, type);
  try {
    await waitUntil(
      async () => {
        const s = await followed.read();
        const state = startState(s, agentNodes);
        if ('cannot' in state) {
          throw new SessionRefused(
            `session "${id}" in namespace "${namespace}" cannot be traced: ${state.cannot.map((c) => c.message).join('; ')} (context "${kube.ctx.context}")`,
            `The agent's bpftrace must be able to attach on that node (a privileged pod with tracefs and BTF). The full message is in the agent pod's log: kubectl -n harden-system logs -l app.kubernetes.io/name=harden-agent`,
            state.cannot,
          );
        }
        const { phase, leftOut } = state;
        if (phase === 'Failed') {
          throw new SessionRefused(
            `session "${id}" in namespace "${namespace}" failed: ${refusalMessage(s) ?? s.status?.message ?? 'no reason given'}`,
            undefined,
            refusals(s),
          );
        }
        for (const r of leftOut.filter((x) => !warned.has(x.node ?? ''))) {
          warned.add(r.node ?? '');
          progress.err(
            `warning: session "${id}" goes on without node ${r.node}, whose pods it does not record: ${r.message}`,
          );
        }
        return { done: phase === 'Tracing', progress: `waiting for the agents to start tracing (${phase})` };
      },
      {
        timeoutMs,
        intervalMs: 200,
        signal,
        onProgress: (l) => progress.progress(l),
        onTimeout: () =>
          new HardenError(
            `no agent started tracing session "${id}" within ${timeoutMs / 1000}s (context "${kube.ctx.context}")`,
            'Check the agents with: kubectl harden status',
          ),
      },
    );
  } finally {
    followed.close();
  }
  progress.done();
}

/** The gist of a condition message (bpftrace's compile errors run to pages; the condition keeps them). */
const firstLine = (message: string) => {
  const lines = message.trim().split('\n');
  return lines.length > 1 ? `${lines[0]} (…)` : lines[0];
};

/**
 * Where a starting session stands. A node whose bpftrace cannot run there is left out of an open
 * session (selector, --all) while another node's agent may serve it: one broken node does not stop
 * the recording of the others. A pod session, or an open one no other agent can serve, cannot be
 * traced. The phase is judged without the nodes left out. Pure.
 */
export function startState(
  s: TraceSession,
  agentNodes: readonly string[] | undefined,
): { phase: SessionPhase; leftOut: Refusal[] } | { cannot: Refusal[] } {
  const cannot = cannotTrace(s);
  if (!cannot.length) return { phase: sessionPhase(s, agentNodes), leftOut: [] };
  const blocked = new Set(cannot.map((c) => c.node));
  const others = (agentNodes ?? []).filter((n) => !blocked.has(n));
  if (s.spec.target.podName || !others.length) return { cannot };
  const nodes = (s.status?.nodes ?? []).filter((n) => !blocked.has(n.node));
  return { phase: sessionPhase({ ...s, status: { ...s.status, nodes } }, others), leftOut: cannot };
}

/** Nodes whose agent reports that bpftrace cannot run or attach there ("bpftrace on node X: Reason: message"). */
export function cannotTrace(s: TraceSession): Refusal[] {
  return (s.status?.nodes ?? []).flatMap((n) =>
    (n.conditions ?? [])
      .filter((c) => c.type === 'BpftraceReady' && c.status === 'False')
      .map((c) => ({
        node: n.node,
        reason: c.reason,
        message: `bpftrace on node ${n.node}: ${c.reason}: ${firstLine(c.message)}`,
      })),
  );
}

/**
 * Creates the session and waits until it traces. Nothing is recorded before that, so a session that
 * never gets there (failure, timeout, Ctrl-C) is deleted: none is left behind.
 */
export async function startSession(
  kube: Kube,
  progress: Progress,
  ref: SessionRef & { target: TraceTarget; timeoutMs: number; signal: AbortSignal; meta?: SessionMeta },
): Promise<TraceSession> {
  const { namespace, id, type } = ref;
  const created = await createSession(kube, namespace, id, type, ref.target, ref.meta);
  try {
    await waitTracing(kube, progress, ref, ref.timeoutMs, ref.signal);
  } catch (e) {
    progress.done();
    await deleteSession(kube, namespace, id);
    if (ref.signal.aborted)
      throw new HardenError(`interrupted; session "${id}" was removed`, undefined, INTERRUPTED);
    throw e;
  }
  return created;
}

/** Nodes that hold (or held) targets and have not yet written their final flush. */
export function pendingNodes(s: TraceSession): string[] {
  return (s.status?.nodes ?? []).filter((n) => !n.final).map((n) => n.node);
}

export interface Finished {
  /** The session as last read: everything the agents wrote. */
  session: TraceSession;
  /** Nodes whose final flush had not arrived when waiting ended: their last interval may be missing. */
  pending: string[];
  /** Waiting ended by Ctrl-C rather than by the flushes or the timeout. */
  interrupted: boolean;
}

/**
 * Stops the session (if it runs) and waits until every node that wrote an entry has written its
 * final flush, which the agent sends one bpftrace interval after it saw the stop, so it holds all
 * that was traced before. Never throws for a late node: the caller decides what a partial result is.
 */
export async function finishSession(
  kube: Kube,
  progress: Progress,
  session: TraceSession,
  opts: { timeoutMs: number; signal: AbortSignal },
): Promise<Finished> {
  const { namespace, name } = session.metadata;
  const type = session.spec.type;
  let last = session.spec.state === 'Stopped' ? session : await stopSession(kube, session);
  const finished = (s: TraceSession) => !pendingNodes(s).length && sessionPhase(s) !== 'Tracing';
  const timedOut = new HardenError('the final flush did not arrive in time');
  const followed = await followSession(kube, namespace, name, type);
  try {
    await waitUntil(
      async () => {
        last = await followed.read();
        const waiting = pendingNodes(last);
        return {
          done: finished(last),
          progress: waiting.length
            ? `waiting for the final flush from ${waiting.join(', ')}`
            : 'waiting for the agents',
        };
      },
      {
        timeoutMs: opts.timeoutMs,
        intervalMs: 250,
        signal: opts.signal,
        onProgress: (l) => progress.progress(l),
        onTimeout: () => timedOut,
      },
    );
  } catch (e) {
    // Out of time or interrupted: what was read last is the answer, and pending says what lacks.
    if (e !== timedOut && !opts.signal.aborted) throw e;
  } finally {
    followed.close();
    progress.done();
  }
  return { session: last, pending: pendingNodes(last), interrupted: opts.signal.aborted && !finished(last) };
}
