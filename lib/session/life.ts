/**
 * What of a container's life a session saw: its start-up, the processes exec'd into it (exec
 * probes, kubectl exec) and its shutdown (SIGTERM, or the image's STOPSIGNAL, to exit). A
 * recording that missed one of them misses what that part of the life needs: a profile or advice
 * without a shutdown path can leave every pod waiting out its grace period. Pure: records and the
 * container's exec probes in, what was missed out.
 */
import type { ContainerLife } from './types';

const SIGKILL = 9;
/** SIGTERM, or an image's STOPSIGNAL (as the agent counts them: lib/agent/core/program.ts). */
const STOP_SIGNALS = new Set([1, 2, 3, 15, 28]);

/** The probes of a container's spec that run a command in it. */
export const execProbesOf = (
  spec:
    | {
        startupProbe?: { exec?: object };
        readinessProbe?: { exec?: object };
        livenessProbe?: { exec?: object };
      }
    | undefined,
): string[] => (['startupProbe', 'readinessProbe', 'livenessProbe'] as const).filter((p) => spec?.[p]?.exec);

/** What a session made of the records: 'advice' or 'profile'. */
export interface LifeTerms {
  result: string;
  /** What a shutdown path typically needs, e.g. "CAP_KILL" or "kill". */
  shutdownNeeds: string;
  /** An init container that is no sidecar: it ends by itself, so it has no shutdown to miss. */
  runsToCompletion?: boolean;
}

/** An init container of the spec that is no sidecar (restartPolicy Always). */
export const runsToCompletion = (
  spec: { initContainers?: { name: string; restartPolicy?: string }[] } | undefined,
  container: string,
): boolean =>
  Boolean(spec?.initContainers?.some((c) => c.name === container && c.restartPolicy !== 'Always'));

/**
 * Each part of the life none of the container's instances showed, with what it risks. Instances
 * merge: one rolled out while traced shows start-up and shutdown for all (same container of one
 * workload).
 */
export function missedLife(
  records: readonly { recordedFromStart: boolean; life?: ContainerLife }[],
  probes: readonly string[],
  terms: LifeTerms,
): string[] {
  const out: string[] = [];
  if (!records.some((r) => r.recordedFromStart)) {
    out.push(
      `start-up not observed (the container was already running): what it does at start is not in the ${terms.result}; ` +
        'start the session before the pods (re)start',
    );
  }
  if (probes.length && !records.some((r) => (r.life?.execProcesses ?? 0) > 0)) {
    out.push(
      `its ${probes.join(' and ')} runs a command in the container, but no process exec'd into it was observed: ` +
        `what the probe needs is not in the ${terms.result}; trace while the probe runs`,
    );
  }
  const exits = records.map((r) => r.life?.entrypointExit).filter((x): x is number => x !== undefined);
  const graceful = records.some((r) => {
    const x = r.life?.entrypointExit;
    if (x === undefined) return false;
    const signal = x & 0x7f;
    return STOP_SIGNALS.has(signal) || (signal === 0 && (r.life?.stopSignals ?? 0) > 0);
  });
  if (!graceful && !terms.runsToCompletion) {
    const why = !exits.length
      ? 'no instance stopped while traced'
      : exits.some((x) => (x & 0x7f) === SIGKILL)
        ? 'its entrypoint was SIGKILLed (its grace period ran out, or it was deleted with --grace-period=0)'
        : 'its entrypoint exited without a stop signal (by itself, before stop)';
    out.push(
      `shutdown (stop signal to exit) not observed: ${why}; ${terms.result === 'advice' ? 'advice' : `a ${terms.result}`} ` +
        'without its shutdown path can make every pod wait out its grace period and be SIGKILLed ' +
        `(a server that signals its workers needs ${terms.shutdownNeeds}); ` +
        'roll the pods out while tracing (kubectl rollout restart) to record it',
    );
  }
  return out;
}
