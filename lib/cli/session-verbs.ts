/**
 * The `start` and `stop` halves that every recording verb group (seccomp, securitycontext) shares
 * around lib/session/lifecycle: what it prints, and which failures keep or remove the session.
 */
import { HardenError, INTERRUPTED } from '../errors';
import { describeTarget, getSession, newSessionId, requireDeployed } from '../session/client';
import { describeGap, gapsOf } from '../session/gaps';
import { finishSession, pendingNodes, startSession } from '../session/lifecycle';
import { resolveTargets } from '../session/targets';
import type { SessionType, TraceSession } from '../session/types';
import type { Deps, Io } from './context';

export interface StartOptions {
  pod?: string;
  selector?: string;
  container?: string[];
  /** Session id; generated when absent. */
  name?: string;
  /** How long to wait for the agents to start tracing. */
  timeoutMs: number;
}

/**
 * Starts a session and prints its id on stdout; on stderr what it traces and the stop command to
 * run (`verb`: the verb group, `stopTail`: what follows the command, e.g. a redirection).
 */
export async function startAndAnnounce(
  type: SessionType,
  verb: string,
  stopTail: string,
  opts: StartOptions,
  { kube, io, interrupt }: Deps,
): Promise<void> {
  const namespace = kube.namespace;
  await requireDeployed(kube);
  const { target, pods } = await resolveTargets(kube, namespace, opts);
  const id = opts.name ?? newSessionId(type);
  const { signal, dispose } = interrupt();
  try {
    await startSession(kube, io, { namespace, id, type, target, timeoutMs: opts.timeoutMs, signal });
  } finally {
    dispose();
  }
  io.out(`${id}\n`);
  const what = pods.length
    ? describeTarget(target)
    : `${describeTarget(target)} (no pod matches yet; pods that appear join)`;
  io.err(
    `tracing ${what} in namespace "${namespace}"; exercise the workload, then run:\n  kubectl harden ${verb} stop ${id} -n ${namespace} ${stopTail}`,
  );
}

/** Names every interval in which a target was not traced; returns how many there were. */
export function warnGaps(session: TraceSession, io: Io): number {
  const gaps = gapsOf(session);
  for (const g of gaps) io.err(`warning: ${describeGap(g)}`);
  return gaps.length;
}

/**
 * Stops a session and waits for every node's final flush; the session as finished. Throws (and
 * keeps the session) when it was already stopped, on Ctrl-C, when a node's flush is missing, or
 * when a target was not traced for a while (gaps, named on stderr) unless `acceptGaps`; `missing`
 * says what the result may then lack. `check` sees the session before anything is stopped.
 */
export async function stopAndCollect(
  type: SessionType,
  verb: string,
  opts: { id: string; timeoutMs: number; acceptGaps: boolean; missing: string },
  { kube, io, interrupt }: Deps,
  check: (running: TraceSession) => Promise<void> = async () => undefined,
): Promise<TraceSession> {
  const namespace = kube.namespace;
  const resume = `kubectl harden ${verb} stop ${opts.id} -n ${namespace}`;
  const session = await getSession(kube, namespace, opts.id, type);
  // A session kept for its gaps goes on below: without --accept-gaps its gaps are named again
  // (whether the agents finished it before this stop or during it), with it the result is taken.
  if (
    session.spec.state === 'Stopped' &&
    session.status?.phase === 'Completed' &&
    !pendingNodes(session).length &&
    !gapsOf(session).length
  ) {
    throw new HardenError(
      `session "${opts.id}" in namespace "${namespace}" is already stopped (context "${kube.ctx.context}")`,
      `Print what it recorded with: kubectl harden ${verb} show ${opts.id} -n ${namespace}`,
    );
  }
  await check(session);
  const { signal, dispose } = interrupt();
  let finished;
  try {
    finished = await finishSession(kube, io, session, { timeoutMs: opts.timeoutMs, signal });
  } finally {
    dispose();
  }
  if (finished.interrupted) {
    throw new HardenError(
      `interrupted; session "${opts.id}" is stopped and kept`,
      `Resume with: ${resume}`,
      INTERRUPTED,
    );
  }
  if (finished.pending.length) {
    throw new HardenError(
      `the agents did not finish session "${opts.id}" in time (no final flush from ${finished.pending.join(', ')}; context "${kube.ctx.context}"); the session is kept`,
      `Check them with kubectl harden status, then resume with: ${resume}`,
    );
  }
  const gaps = warnGaps(finished.session, io);
  if (gaps && !opts.acceptGaps) {
    throw new HardenError(
      `session "${opts.id}" in namespace "${namespace}" was not traced throughout (${gaps} gap${gaps > 1 ? 's' : ''}, listed above): ${opts.missing}; the session is kept (context "${kube.ctx.context}")`,
      `Record again in a new session, or take the result as it is: ${resume} --accept-gaps`,
    );
  }
  return finished.session;
}
