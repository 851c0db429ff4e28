/**
 * Rollouts of Deployments, StatefulSets and DaemonSets as kubectl does them: `rollout restart`
 * (stamp the pod template, so the controller replaces every pod) and `rollout status` (wait until
 * the new template runs everywhere it should). Used by `record --restart` and `apply`.
 */
import { HardenError } from '../errors';
import type { Kube } from '../kube/client';
import type { KubeObject } from '../kube/objects';
import { R, resourcePath, type ResourceRef } from '../kube/paths';
import { waitUntil } from '../kube/wait';
import type { Progress } from '../session/lifecycle';

export type RolloutKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

export const ROLLOUT_RESOURCES: Record<RolloutKind, ResourceRef> = {
  Deployment: R.deployments,
  StatefulSet: R.statefulsets,
  DaemonSet: R.daemonsets,
};

export const isRolloutKind = (kind: string): kind is RolloutKind => kind in ROLLOUT_RESOURCES;

/** kubectl's annotation: `kubectl rollout restart` sets it to the time, so the template changes. */
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

/** The fields of the three controllers that say how far a rollout is. */
export interface RolloutObject extends KubeObject {
  spec?: { replicas?: number; template?: { metadata?: { annotations?: Record<string, string> } } };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    readyReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
    desiredNumberScheduled?: number;
    updatedNumberScheduled?: number;
    numberAvailable?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export interface RolloutState {
  done: boolean;
  /** What is left, as kubectl rollout status says it. */
  progress: string;
  /** The controller gave up (a Deployment past its progress deadline). */
  failed?: string;
}

/** How far a rollout is, from the object alone (kubectl rollout status's rules). Pure. */
export function rolloutState(kind: RolloutKind, o: RolloutObject): RolloutState {
  const st = o.status ?? {};
  if ((st.observedGeneration ?? 0) < (o.metadata.generation ?? 0))
    return { done: false, progress: 'waiting for the controller to see the new template' };
  if (kind === 'DaemonSet') {
    const want = st.desiredNumberScheduled ?? 0;
    const updated = st.updatedNumberScheduled ?? 0;
    const available = st.numberAvailable ?? 0;
    if (updated < want) return { done: false, progress: `${updated} of ${want} updated pods scheduled` };
    if (available < want) return { done: false, progress: `${available} of ${want} updated pods available` };
    return { done: true, progress: 'rolled out' };
  }
  const want = o.spec?.replicas ?? 1;
  const updated = st.updatedReplicas ?? 0;
  if (kind === 'Deployment') {
    const stuck = st.conditions?.find(
      (c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded',
    );
    if (stuck)
      return { done: false, progress: 'stuck', failed: stuck.message ?? 'progress deadline exceeded' };
    if (updated < want) return { done: false, progress: `${updated} of ${want} new replicas updated` };
    if ((st.replicas ?? 0) > updated)
      return { done: false, progress: `${(st.replicas ?? 0) - updated} old replicas pending termination` };
    if ((st.availableReplicas ?? 0) < updated)
      return {
        done: false,
        progress: `${st.availableReplicas ?? 0} of ${updated} updated replicas available`,
      };
    return { done: true, progress: 'rolled out' };
  }
  const ready = st.readyReplicas ?? 0;
  if (ready < want) return { done: false, progress: `${ready} of ${want} pods ready` };
  if (st.updateRevision && st.currentRevision !== st.updateRevision)
    return { done: false, progress: `${updated} of ${want} pods at the new revision` };
  return { done: true, progress: 'rolled out' };
}

export interface WorkloadRef {
  kind: RolloutKind;
  name: string;
}

const pathOf = (namespace: string, w: WorkloadRef) =>
  resourcePath(ROLLOUT_RESOURCES[w.kind], { namespace, name: w.name });

/** `kubectl rollout restart`: stamps the pod template with the time, so every pod is replaced. */
export async function restartWorkload(kube: Kube, namespace: string, w: WorkloadRef, now = new Date()) {
  await kube.mergePatch(pathOf(namespace, w), {
    spec: { template: { metadata: { annotations: { [RESTARTED_AT]: now.toISOString() } } } },
  });
}

/**
 * `kubectl rollout status` for several workloads at once: resolves when every one has rolled out;
 * throws naming those that did not within the time, or whose controller gave up.
 */
export async function waitRollouts(
  kube: Kube,
  namespace: string,
  workloads: WorkloadRef[],
  opts: { timeoutMs: number; signal: AbortSignal; progress: Progress },
): Promise<void> {
  const name = (w: WorkloadRef) => `${w.kind.toLowerCase()}/${w.name}`;
  let left: { w: WorkloadRef; state: RolloutState }[] = [];
  await waitUntil(
    async () => {
      left = [];
      for (const w of workloads) {
        const o = await kube.getOptional<RolloutObject>(pathOf(namespace, w));
        if (!o) throw new HardenError(`${name(w)} was deleted in namespace "${namespace}" while rolling out`);
        const state = rolloutState(w.kind, o);
        if (state.failed)
          throw new HardenError(
            `the rollout of ${name(w)} in namespace "${namespace}" failed: ${state.failed}`,
            `See: kubectl rollout status ${name(w)} -n ${namespace}`,
          );
        if (!state.done) left.push({ w, state });
      }
      return {
        done: !left.length,
        progress: left.length
          ? `rolling out: ${left.map((l) => `${name(l.w)} (${l.state.progress})`).join(', ')}`
          : `rolled out: ${workloads.map(name).join(', ')}`,
      };
    },
    {
      timeoutMs: opts.timeoutMs,
      intervalMs: 1000,
      signal: opts.signal,
      onProgress: (l) => opts.progress.progress(l),
      onTimeout: () =>
        new HardenError(
          `the rollout of ${left.map((l) => `${name(l.w)} (${l.state.progress})`).join(', ')} in namespace "${namespace}" did not complete within ${opts.timeoutMs / 1000}s`,
          `See: kubectl rollout status ${name(left[0]?.w ?? workloads[0])} -n ${namespace}`,
        ),
    },
  ).finally(() => opts.progress.done());
}
