/**
 * What the verbs of every session kind do (lib/cli/session-group.ts wires them to the command line),
 * around lib/session/lifecycle: start, stop, show and delete; what they print, and which failures
 * keep or remove the session.
 */
import { constants as fsc } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { HardenError, INTERRUPTED } from '../errors';
import {
  deleteSession,
  describeTarget,
  getSession,
  listSessions,
  newSessionId,
  requireDeployed,
} from '../session/client';
import { describeGap, gapsOf } from '../session/gaps';
import { finishSession, pendingNodes, startSession } from '../session/lifecycle';
import { sessionPhase } from '../session/phase';
import { resolveTargets } from '../session/targets';
import type { TraceSession } from '../session/types';
import type { Deps, Io } from './context';
import { writeFilesAtomically } from './write-files';
import type { Rendered, ResultOptions, SessionKind } from './session-kind';

export interface StartOptions {
  pod?: string;
  selector?: string;
  container?: string[];
  /** Session id; generated when absent. */
  name?: string;
  /** How long to wait for the agents to start tracing (Infinity: no limit). */
  timeoutMs: number;
}

export interface StopOptions {
  id: string;
  keep: boolean;
  /** Take the result even when a target was not traced for a while (the gaps are named on stderr). */
  acceptGaps: boolean;
  /** Take the result even when a bounded set of the records hit its bound (each is named on stderr). */
  acceptTruncated: boolean;
  /** Refuse a result whose records did not show each workload's whole life (kinds that record it). */
  requireFullLife?: boolean;
  /**
   * Before stopping, end one traced pod of each workload gracefully and wait for its replacement,
   * so its shutdown is recorded (lib/session/shutdown.ts; kinds that record the life).
   */
  includeShutdown?: boolean;
  /** How long to wait for the agents' final flush (Infinity: no limit). */
  timeoutMs: number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a verb works with any kind's options
type AnyKind = SessionKind<any>;

const listCommand = (kind: AnyKind) => `kubectl harden ${kind.group} list -A`;

/**
 * Starts a session and prints its id on stdout; on stderr what it traces and the stop command to
 * run next.
 */
export async function runStart(
  kind: AnyKind,
  opts: StartOptions,
  { kube, io, interrupt }: Deps,
): Promise<void> {
  const namespace = kube.namespace;
  await requireDeployed(kube);
  const { target, pods } = await resolveTargets(kube, namespace, opts);
  const id = opts.name ?? newSessionId(kind.idPrefix);
  const { signal, dispose } = interrupt();
  try {
    await startSession(kube, io, {
      namespace,
      id,
      type: kind.type,
      target,
      timeoutMs: opts.timeoutMs,
      signal,
    });
  } finally {
    dispose();
  }
  io.out(`${id}\n`);
  const what = pods.length
    ? describeTarget(target)
    : `${describeTarget(target)} (no pod matches yet; pods that appear join)`;
  io.err(
    `tracing ${what} in namespace "${namespace}"; exercise the workload, then run:\n  kubectl harden ${kind.group} stop ${id} -n ${namespace} ${kind.describe.stopTail}`,
  );
}

/** Names every interval in which a target was not traced; returns how many there were. */
function warnGaps(kind: AnyKind, session: TraceSession, io: Io): number {
  const gaps = gapsOf(session);
  const terms = { records: kind.describe.records, result: kind.describe.result };
  for (const g of gaps) io.err(`warning: ${describeGap(g, terms)}`);
  return gaps.length;
}

/**
 * Stops a session and waits for every node's final flush; the session as finished. Throws (and
 * keeps the session) when it was already stopped, on Ctrl-C, when a node's flush is missing, or
 * when a target was not traced for a while (gaps, named on stderr) unless `acceptGaps`. `check`
 * sees the session before anything is stopped.
 */
async function stopAndCollect(
  kind: AnyKind,
  opts: StopOptions,
  { kube, io, interrupt }: Deps,
  check: (running: TraceSession) => Promise<void>,
  truncated: (s: TraceSession) => string[],
): Promise<TraceSession> {
  const namespace = kube.namespace;
  const resume = `kubectl harden ${kind.group} stop ${opts.id} -n ${namespace}`;
  const session = await getSession(kube, namespace, opts.id, kind.type, listCommand(kind));
  if (opts.includeShutdown && session.spec.state === 'Stopped') {
    throw new HardenError(
      `session "${opts.id}" in namespace "${namespace}" is already stopped: --include-shutdown needs it still tracing (context "${kube.ctx.context}")`,
      `Take what it recorded with: ${resume} (without --include-shutdown), or record again in a new session`,
    );
  }
  // A session kept for its gaps or cut sets goes on below: without --accept-gaps (or
  // --accept-truncated) they are named again (whether the agents finished it before this stop or
  // during it), with it the result is taken.
  if (
    session.spec.state === 'Stopped' &&
    sessionPhase(session) === 'Completed' &&
    !pendingNodes(session).length &&
    !gapsOf(session).length &&
    !truncated(session).length
  ) {
    throw new HardenError(
      `session "${opts.id}" in namespace "${namespace}" is already stopped (context "${kube.ctx.context}")`,
      `Print what it recorded with: kubectl harden ${kind.group} show ${opts.id} -n ${namespace}; remove it with: kubectl harden ${kind.group} delete ${opts.id} -n ${namespace}`,
    );
  }
  await check(session);
  if (opts.includeShutdown) {
    const { recordShutdowns } = await import('../session/shutdown');
    const ending = interrupt();
    try {
      await recordShutdowns(kube, io, session, { signal: ending.signal, resume });
    } finally {
      ending.dispose();
    }
  }
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
  const gaps = warnGaps(kind, finished.session, io);
  if (gaps && !opts.acceptGaps) {
    throw new HardenError(
      `session "${opts.id}" in namespace "${namespace}" was not traced throughout (${gaps} gap${gaps > 1 ? 's' : ''}, listed above): ${kind.describe.missing}; the session is kept (context "${kube.ctx.context}")`,
      `Record again in a new session, or take the result as it is: ${resume} --accept-gaps`,
    );
  }
  const cut = truncated(finished.session);
  for (const c of cut) io.err(`warning: ${c}`);
  if (cut.length && !opts.acceptTruncated) {
    throw new HardenError(
      `session "${opts.id}" in namespace "${namespace}" recorded more than its bounds hold (${cut.length} bounded set${cut.length > 1 ? 's' : ''} cut, listed above): ${kind.describe.result} would rest on what was kept; the session is kept (context "${kube.ctx.context}")`,
      `Record a shorter or narrower session, or take the result as it is: ${resume}${opts.acceptGaps ? ' --accept-gaps' : ''} --accept-truncated`,
    );
  }
  return finished.session;
}

/**
 * Stops a session, prints its result and removes it (unless `keep`). What cannot be printed is
 * found before anything is stopped where the running session already tells (the same stop with
 * other flags then works); what only the final flush reveals keeps the session for `show`.
 */
export async function runStop<O extends ResultOptions>(
  kind: SessionKind<O>,
  opts: StopOptions & O,
  deps: Deps,
): Promise<void> {
  const { kube, io } = deps;
  const ns = kube.namespace;
  const result = await kind.result();
  const session = await stopAndCollect(
    kind,
    opts,
    deps,
    async (running) => {
      if (opts.outputDir) await ensureWritableDir(opts.outputDir);
      const cannot = result.unprintable?.(running, opts);
      if (cannot)
        throw new HardenError(
          `${cannot.why}; nothing was stopped`,
          `Stop it with: kubectl harden ${kind.group} stop ${opts.id} -n ${ns} ${cannot.instead}`,
        );
    },
    (s) => result.truncated?.(s) ?? [],
  );
  const cannot = result.unprintable?.(session, opts);
  if (cannot)
    throw new HardenError(
      `${cannot.why}; the session is stopped and kept`,
      `Print it with: kubectl harden ${kind.group} show ${opts.id} -n ${ns} ${cannot.instead}, then remove it with: kubectl harden ${kind.group} delete ${opts.id} -n ${ns}`,
    );
  // Render before deleting: an error here must leave the recorded data in place.
  const rendered = await result.render(session, opts, kube);
  if (opts.requireFullLife && rendered.partialLife?.length) {
    for (const note of rendered.notes) io.err(note);
    throw new HardenError(
      `${rendered.partialLife.length} part${rendered.partialLife.length > 1 ? 's' : ''} of the workloads' life ` +
        `${rendered.partialLife.length > 1 ? 'were' : 'was'} not observed (listed above) and --require-full-life is set; ` +
        'nothing was printed and the session is stopped and kept',
      `Record again covering them, or print it anyway with: kubectl harden ${kind.group} show ${opts.id} -n ${ns}, ` +
        `then remove it with: kubectl harden ${kind.group} delete ${opts.id} -n ${ns}`,
    );
  }
  await emit(rendered, opts, io, () => result.deliver?.(rendered, opts, deps) ?? Promise.resolve(false));
  if (!opts.keep) await deleteSession(kube, ns, opts.id);
}

/** Prints what a session recorded so far (or in full, once stopped), without stopping it. */
export async function runShow<O extends ResultOptions>(
  kind: SessionKind<O>,
  opts: { id: string } & O,
  { kube, io }: Pick<Deps, 'kube' | 'io'>,
): Promise<void> {
  if (opts.outputDir) await ensureWritableDir(opts.outputDir);
  const session = await getSession(kube, kube.namespace, opts.id, kind.type, listCommand(kind));
  const result = await kind.result();
  const cannot = result.unprintable?.(session, opts);
  if (cannot)
    throw new HardenError(
      cannot.why,
      `Print it with: kubectl harden ${kind.group} show ${opts.id} -n ${kube.namespace} ${cannot.instead}`,
    );
  warnGaps(kind, session, io);
  for (const c of result.truncated?.(session) ?? []) io.err(`warning: ${c}`);
  await emit(await result.render(session, opts, kube), opts, io);
}

/**
 * Removes sessions of this kind, as `kubectl delete` does (a running one stops tracing with it):
 * the named ones, or with `all` every one in the namespace. Stopped sessions stay until removed.
 */
export async function runDelete(
  kind: AnyKind,
  opts: { ids: string[]; all: boolean },
  { kube, io }: Pick<Deps, 'kube' | 'io'>,
): Promise<void> {
  const ns = kube.namespace;
  const sessions = opts.all
    ? await listSessions(kube, ns, kind.type)
    : await Promise.all(opts.ids.map((id) => getSession(kube, ns, id, kind.type, listCommand(kind))));
  if (opts.all && !sessions.length) io.err(`No ${kind.group} sessions found in namespace "${ns}".`);
  for (const s of sessions) {
    await deleteSession(kube, ns, s.metadata.name);
    io.out(`tracesession.harden.dev "${s.metadata.name}" deleted\n`);
  }
}

async function emit(
  rendered: Rendered,
  opts: ResultOptions,
  io: Io,
  deliver: () => Promise<boolean> = () => Promise.resolve(false),
): Promise<void> {
  for (const note of rendered.notes) io.err(note);
  if (rendered.failure) throw rendered.failure;
  if (await deliver()) return;
  if (typeof rendered.out === 'string') {
    io.out(rendered.out);
    return;
  }
  if (!opts.outputDir) throw new Error('a result of files needs --output-dir');
  const written = await writeFilesAtomically(opts.outputDir, rendered.out);
  io.out(written.map((f) => `${f}\n`).join(''));
}

async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, fsc.W_OK);
  } catch (e) {
    throw new HardenError(
      `--output-dir ${dir} is not a writable directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}
