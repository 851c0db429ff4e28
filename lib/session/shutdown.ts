/**
 * `--include-shutdown`: while a session still traces, end one traced pod of each workload
 * gracefully (its own grace period, as a rollout would), wait until it is gone and its replacement
 * is Ready (and, for a selector session, traced), so that the shutdown path (SIGTERM or the image's
 * STOPSIGNAL to exit: a server signalling its workers) is in the records before the stop. A bare
 * pod has nothing to replace it: it is named and left alone. Whether the shutdown was graceful is
 * decided from the records afterwards (./life.ts: a SIGKILL at the end of the grace period, or a
 * deletion with --grace-period=0, is "shutdown not observed" with its reason); what is said here
 * is how long each pod took against its grace period.
 *
 * Pure choice and wording (planShutdowns, describeStop) plus one run function with (kube, io)
 * collaborators, shared by `<kind> stop --include-shutdown` and `record --include-shutdown`.
 */
import { HardenError, INTERRUPTED } from '../errors';
import { ApiError, type Kube } from '../kube/client';
import { ownerOf, podReady, type List, type Pod } from '../kube/objects';
import { R, resourcePath } from '../kube/paths';
import { selectorText } from '../labels';
import { waitUntil } from '../kube/wait';
import type { Progress } from './lifecycle';
import { findSession } from './client';
import type { TraceSession } from './types';

/** Owners that put a new pod in place of a deleted one, from the same template. */
const REPLACING_OWNERS = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet']);

/** The API server's default terminationGracePeriodSeconds. */
export const DEFAULT_GRACE_S = 30;

/** How long a replacement may take to be Ready (and traced) by default. */
export const REPLACEMENT_TIMEOUT_MS = 180_000;

/** Past its grace period, how long a pod may still take to be gone (kubelet's SIGKILL and cleanup). */
const GONE_SLACK_MS = 60_000;

/** One workload's part: the pod to stop, or why none is. */
export type ShutdownChoice =
  { workload: string; owner: { kind: string; name: string }; pod: Pod } | { workload: string; skip: string };

/** kubectl's way of naming a workload: `deployment/web`, `pod/debug`. */
export function workloadName(pod: Pod): string {
  const owner = ownerOf(pod);
  return owner ? `${owner.kind.toLowerCase()}/${owner.name}` : `pod/${pod.metadata.name}`;
}

const live = (p: Pod) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running';

/**
 * Per workload of the running target pods, the pod to stop: a traced one (its shutdown lands in
 * the records), Ready (a replacement of a pod that never was might never be either), the oldest
 * (the one whose life the session most likely holds), by name last, so the choice is stable.
 * Pure: the pods and the uids the session has records of in, one choice per workload out, sorted.
 */
export function planShutdowns(pods: readonly Pod[], traced: ReadonlySet<string>): ShutdownChoice[] {
  const groups = new Map<string, Pod[]>();
  for (const p of pods.filter(live)) {
    const w = workloadName(p);
    groups.set(w, [...(groups.get(w) ?? []), p]);
  }
  const rank = (p: Pod): [number, number, string, string] => [
    traced.has(p.metadata.uid ?? '') ? 0 : 1,
    podReady(p) ? 0 : 1,
    p.metadata.creationTimestamp ?? '',
    p.metadata.name,
  ];
  const before = (a: Pod, b: Pod) => {
    const [x, y] = [rank(a), rank(b)];
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
  };
  return [...groups]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([workload, group]): ShutdownChoice => {
      const owner = ownerOf(group[0]);
      if (!owner)
        return {
          workload,
          skip:
            'a bare pod is not restartable (no controller would replace it), so it is not stopped and its shutdown ' +
            'is not recorded; delete it yourself while the session traces if it may go',
        };
      if (!REPLACING_OWNERS.has(owner.kind))
        return {
          workload,
          skip:
            `its owner ${owner.kind} does not put a new pod in place of a deleted one from the same template ` +
            '(only a Deployment, ReplicaSet, StatefulSet or DaemonSet does), so none is stopped and its shutdown is not recorded',
        };
      return { workload, owner, pod: [...group].sort(before)[0] };
    });
}

/** The grace period kubelet gives a pod before SIGKILL. */
export const graceOf = (pod: Pod): number => pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_S;

/**
 * What is said once a pod is gone: how long it took against its grace period. Taking all of it
 * means kubelet most likely SIGKILLed it (the records then tell, see ./life.ts).
 */
export function describeStop(workload: string, pod: string, elapsedMs: number, graceS: number): string {
  const took = `${(elapsedMs / 1000).toFixed(1)}s`;
  if (elapsedMs >= graceS * 1000)
    return (
      `warning: ${workload}: pod ${pod} took ${took}, its whole grace period of ${graceS}s: kubelet most likely ` +
      'SIGKILLed it, so its shutdown path did not run to the end (stop says what the records show)'
    );
  return `${workload}: pod ${pod} stopped in ${took} (grace period ${graceS}s)`;
}

/** What a run did per workload, for callers that report it (record's summary). */
export interface ShutdownOutcome {
  workload: string;
  /** Why no pod of it was stopped. */
  skipped?: string;
  pod?: string;
  /** From the deletion to the pod being gone. */
  stoppedMs?: number;
  graceS?: number;
  /** The new pod, Ready (and traced when the session's target matches new pods). */
  replacement?: string;
  /** What did not happen in time (the stop goes on; the records tell what was recorded). */
  problem?: string;
}

/** Where it reports: progress on one rewriting line, and lines of their own. */
export interface ShutdownIo extends Progress {
  err(text: string): void;
}

export interface ShutdownOptions {
  signal: AbortSignal;
  /** How long a replacement may take to be Ready (and traced). */
  replacementTimeoutMs?: number;
  /** How often pods and the session are read while waiting. */
  intervalMs?: number;
  /** The command that stops the session, for the hint after Ctrl-C. */
  resume: string;
}

/** The running pods the session traces now. */
async function targetPods(kube: Kube, session: TraceSession): Promise<Pod[]> {
  const namespace = session.metadata.namespace;
  const t = session.spec.target;
  if (t.podName) {
    const pod = await kube.getOptional<Pod>(resourcePath(R.pods, { namespace, name: t.podName }));
    return pod ? [pod] : [];
  }
  const query = t.selector ? { labelSelector: selectorText(t.selector) } : undefined;
  return (await kube.get<List<Pod>>(resourcePath(R.pods, { namespace }), query)).items;
}

/**
 * The pods the session has records of (any node), by uid: in its container records, or in a
 * recorder's own per-container list (a capabilities session's `privileges`), whichever holds it
 * first; this module knows no recorder by name.
 */
export function tracedPods(s: TraceSession): Set<string> {
  const uids = new Set<string>();
  for (const n of s.status?.nodes ?? [])
    for (const list of Object.values(n as object))
      if (Array.isArray(list))
        for (const r of list as unknown[]) {
          const uid = (r as { podUID?: unknown } | null)?.podUID;
          if (typeof uid === 'string') uids.add(uid);
        }
  return uids;
}

/**
 * Stops one pod of each of the session's workloads gracefully and waits for its replacement (see
 * the module's comment). Never stops the session. Ctrl-C throws (the session still traces); a
 * pod or replacement late past its time is said on stderr and in the outcome, and the caller's
 * stop goes on (the records tell what was recorded).
 */
export async function recordShutdowns(
  kube: Kube,
  io: ShutdownIo,
  session: TraceSession,
  opts: ShutdownOptions,
): Promise<ShutdownOutcome[]> {
  const namespace = session.metadata.namespace;
  const id = session.metadata.name;
  const pods = await targetPods(kube, session);
  const choices = planShutdowns(pods, tracedPods(session));
  if (!choices.length) {
    io.err(
      `warning: --include-shutdown: session "${id}" traces no running pod in namespace "${namespace}": none was stopped, no shutdown recorded`,
    );
    return [];
  }
  // A new pod of a selector (or --all) session is traced from its first instruction: wait for that
  // too, or the stop could end the session before the replacement's start-up was in it.
  const open = !session.spec.target.podName;
  // Every pod there now, not only the targets: a pod session's workload has other pods, and a
  // replacement is a pod none of these is.
  const all = await kube.get<List<Pod>>(resourcePath(R.pods, { namespace }));
  const known = new Set([...pods, ...all.items].map((p) => p.metadata.uid ?? ''));
  const states = new Map<string, string>();
  const show = () => io.progress(`include-shutdown: ${[...states].map(([w, s]) => `${w} ${s}`).join('; ')}`);
  const one = async (c: ShutdownChoice): Promise<ShutdownOutcome> => {
    if ('skip' in c) {
      io.err(`warning: ${c.workload}: ${c.skip}`);
      return { workload: c.workload, skipped: c.skip };
    }
    const name = c.pod.metadata.name;
    const uid = c.pod.metadata.uid;
    const graceS = graceOf(c.pod);
    const out: ShutdownOutcome = { workload: c.workload, pod: name, graceS };
    const path = resourcePath(R.pods, { namespace, name });
    io.err(
      `${c.workload}: stopping pod ${name} gracefully (grace period ${graceS}s) while the session traces`,
    );
    states.set(c.workload, `stopping ${name}`);
    show();
    const started = Date.now();
    try {
      // The uid precondition: a StatefulSet's replacement has the same name and must not go too.
      await kube.request('DELETE', path, {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', ...(uid ? { preconditions: { uid } } : {}) },
      });
    } catch (e) {
      if (!(e instanceof ApiError && (e.statusCode === 404 || e.statusCode === 409))) throw e;
    }
    const gone = await waitFor(
      async () => {
        const now = await kube.getOptional<Pod>(path);
        const done = !now || (uid !== undefined && now.metadata.uid !== uid);
        states.set(c.workload, done ? `${name} gone` : `waiting for ${name} to stop`);
        return { done, progress: '' };
      },
      graceS * 1000 + GONE_SLACK_MS,
    );
    if (!gone) {
      out.problem = `pod ${name} was not gone ${graceS}s + ${GONE_SLACK_MS / 1000}s after its deletion`;
      io.err(`warning: ${c.workload}: ${out.problem}`);
      return out;
    }
    out.stoppedMs = Date.now() - started;
    io.err(describeStop(c.workload, name, out.stoppedMs, graceS));
    const timeoutMs = opts.replacementTimeoutMs ?? REPLACEMENT_TIMEOUT_MS;
    const ready = await waitFor(async () => {
      const now = (await kube.get<List<Pod>>(resourcePath(R.pods, { namespace }))).items;
      const fresh = now.filter(
        (p) =>
          !known.has(p.metadata.uid ?? '') &&
          !p.metadata.deletionTimestamp &&
          ownerOf(p)?.kind === c.owner.kind &&
          ownerOf(p)?.name === c.owner.name,
      );
      const readyPods = fresh.filter(podReady);
      let traced = readyPods;
      if (open && readyPods.length) {
        const s = await findSession(kube, namespace, id);
        const t = s ? tracedPods(s) : new Set<string>();
        traced = readyPods.filter((p) => t.has(p.metadata.uid ?? ''));
      }
      const pick = traced[0] ?? readyPods[0] ?? fresh[0];
      states.set(
        c.workload,
        !pick
          ? 'waiting for a replacement'
          : traced.length
            ? `${pick.metadata.name} Ready`
            : readyPods.length
              ? `waiting for ${pick.metadata.name} to be traced`
              : `waiting for ${pick.metadata.name} to be Ready`,
      );
      if (traced.length) out.replacement = traced[0].metadata.name;
      return { done: traced.length > 0, progress: '' };
    }, timeoutMs);
    if (!ready) {
      out.problem = `no replacement of pod ${name} was Ready${open ? ' and traced' : ''} within ${timeoutMs / 1000}s`;
      io.err(`warning: ${c.workload}: ${out.problem}; check it with: kubectl get pods -n ${namespace}`);
    } else io.err(`${c.workload}: replacement ${out.replacement} is Ready${open ? ' and traced' : ''}`);
    return out;
  };

  /** True once done; false when time ran out; throws on Ctrl-C (the session still traces). */
  async function waitFor(check: () => Promise<{ done: boolean; progress: string }>, timeoutMs: number) {
    const late = new HardenError('late');
    try {
      await waitUntil(
        async () => {
          const r = await check();
          return { done: r.done, progress: '' };
        },
        {
          timeoutMs,
          intervalMs: opts.intervalMs ?? 1000,
          signal: opts.signal,
          onProgress: show,
          onTimeout: () => late,
        },
      );
      return true;
    } catch (e) {
      if (e === late) return false;
      throw e;
    }
  }

  try {
    return await Promise.all(choices.map(one));
  } catch (e) {
    if (opts.signal.aborted)
      throw new HardenError(
        `interrupted while recording the shutdown; session "${id}" still traces`,
        `Stop it with: ${opts.resume} (again with --include-shutdown, or without)`,
        INTERRUPTED,
      );
    throw e;
  } finally {
    io.done();
  }
}
