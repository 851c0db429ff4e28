/**
 * What of a container's life a session saw: its start-up, the processes exec'd into it (exec
 * probes, kubectl exec) and its shutdown (SIGTERM to exit). A recording that missed one of them
 * misses what that part of the life needs: advice without a shutdown path can leave every pod
 * waiting out its grace period. Pure: records and the container's spec in, what was missed out.
 */
import type { PrivilegeRecord } from '../agent/recorders/privileges/types';
import type { ContainerSpec } from './types';

const SIGKILL = 9;
const SIGTERM = 15;

/** A probe of the spec that runs a command in the container. */
const execProbes = (spec: ContainerSpec | undefined) =>
  (['startupProbe', 'readinessProbe', 'livenessProbe'] as const).filter((p) => spec?.[p]?.exec);

/**
 * Each part of the life none of the container's instances showed, with what it risks. Instances
 * merge: one rolled out while traced shows start-up and shutdown for all (same container of one
 * workload).
 */
export function missedLife(records: PrivilegeRecord[], spec: ContainerSpec | undefined): string[] {
  const out: string[] = [];
  if (!records.some((r) => r.recordedFromStart)) {
    out.push(
      'start-up not observed (the container was already running): what it does at start is not in the advice; ' +
        'start the session before the pods (re)start',
    );
  }
  const probes = execProbes(spec);
  if (probes.length && !records.some((r) => (r.life?.execProcesses ?? 0) > 0)) {
    out.push(
      `its ${probes.join(' and ')} runs a command in the container, but no process exec'd into it was observed: ` +
        'what the probe needs under this securityContext was not seen; trace while the probe runs',
    );
  }
  const exits = records.map((r) => r.life?.entrypointExit).filter((x): x is number => x !== undefined);
  const graceful = records.some((r) => {
    const x = r.life?.entrypointExit;
    if (x === undefined) return false;
    const signal = x & 0x7f;
    return signal === SIGTERM || (signal === 0 && (r.life?.sigterms ?? 0) > 0);
  });
  if (!graceful) {
    const why = !exits.length
      ? 'no instance stopped while traced'
      : exits.some((x) => (x & 0x7f) === SIGKILL)
        ? 'its entrypoint was SIGKILLed (its grace period ran out, or it was deleted with --grace-period=0)'
        : 'its entrypoint exited without a SIGTERM (by itself, before stop)';
    out.push(
      `shutdown (SIGTERM to exit) not observed: ${why}; advice without its shutdown path can make every pod ` +
        'wait out its grace period and be SIGKILLed (a server that signals its workers needs CAP_KILL); ' +
        'roll the pods out while tracing (kubectl rollout restart) to record it',
    );
  }
  return out;
}
