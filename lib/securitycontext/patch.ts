/**
 * The advice as a strategic merge patch for the object that owns the pods, ready for
 * `kubectl patch KIND/NAME --type strategic -p "$(cat patch.json)"`. Pure.
 *
 * Containers merge by name and volumeMounts by mountPath, volumes by name, so the patch adds the
 * emptyDirs and sets the securityContext fields it names while leaving every other field alone.
 */
import { emptyDirName, type ContainerAdvice, type WorkloadAdvice } from './advise';

/** What the patch is made of: each container's securityContext and emptyDirs, and the pod's sysctls. */
export interface PatchContent {
  containers: (Pick<ContainerAdvice, 'name' | 'init' | 'securityContext'> &
    Partial<Pick<ContainerAdvice, 'emptyDirs'>>)[];
  podSysctls?: WorkloadAdvice['podSysctls'];
}

/** Where each kind keeps its pod template. */
const TEMPLATE_PATH: Record<string, string[]> = {
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
  Pod: ['spec'],
};

export const patchableKinds = Object.keys(TEMPLATE_PATH);

export function strategicPatch(kind: string, advice: PatchContent): Record<string, unknown> {
  const path = TEMPLATE_PATH[kind];
  if (!path)
    throw new Error(`no pod template in a ${kind}: kubectl-harden patches ${patchableKinds.join(', ')}`);
  const dirs = [...new Set(advice.containers.flatMap((c) => c.emptyDirs ?? []))].sort();
  const entry = (c: PatchContent['containers'][number]) => ({
    name: c.name,
    securityContext: c.securityContext,
    ...(c.emptyDirs?.length
      ? { volumeMounts: c.emptyDirs.map((d) => ({ name: emptyDirName(d), mountPath: d })) }
      : {}),
  });
  // Both lists merge by name: an init container's entry under containers would add a container.
  const init = advice.containers.filter((c) => c.init);
  const podSpec: Record<string, unknown> = {
    containers: advice.containers.filter((c) => !c.init).map(entry),
    ...(init.length ? { initContainers: init.map(entry) } : {}),
    ...(dirs.length ? { volumes: dirs.map((d) => ({ name: emptyDirName(d), emptyDir: {} })) } : {}),
    // A list without a merge key: the patch replaces it, so it carries the pod's own sysctls too.
    ...(advice.podSysctls ? { securityContext: { sysctls: advice.podSysctls } } : {}),
  };
  return path.reduceRight<Record<string, unknown>>((inner, key) => ({ [key]: inner }), podSpec);
}
