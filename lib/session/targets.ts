import { HardenError } from '../errors';
import { AGENT_NAMESPACE } from './agent-names';
import { ApiError, type Kube } from '../kube/client';
import type { List, Pod } from '../kube/objects';
import { podReady } from '../kube/objects';
import { R, resourcePath } from '../kube/paths';
import { listAgentPods } from './agents';
import { selectorText } from '../labels';
import { targetChoiceError, targetSelector, type TargetFlags } from './target-flags';
import type { TraceTarget } from './types';

/**
 * Checks what a new session will trace, before anything is created: the namespace, the pod and its
 * containers, and a ready agent on every node that holds a target. Returns the session's target
 * and the pods it covers now (with -l, more may join later).
 */
export async function resolveTargets(kube: Kube, namespace: string, flags: TargetFlags) {
  const where = `namespace "${namespace}" (context "${kube.ctx.context}")`;
  const choice = targetChoiceError(flags);
  if (choice) throw new HardenError(choice);
  const ns = await kube.getOptional(resourcePath(R.namespaces, { name: namespace })).catch((e) => {
    if (e instanceof ApiError && e.statusCode === 403) return true; // namespaced users cannot read namespaces
    throw e;
  });
  if (!ns) {
    throw new HardenError(
      `namespace "${namespace}" not found (context "${kube.ctx.context}")`,
      'List them with: kubectl get namespaces',
    );
  }
  const containers = flags.container?.length ? flags.container : undefined;
  let pods: Pod[];
  let target: TraceTarget;
  if (flags.pod) {
    const pod = await kube.getOptional<Pod>(resourcePath(R.pods, { namespace, name: flags.pod }));
    if (!pod) {
      throw new HardenError(
        `pod "${flags.pod}" not found in ${where}`,
        `List pods with: kubectl get pods -n ${namespace}`,
      );
    }
    if (pod.status?.phase !== 'Running') {
      throw new HardenError(
        `pod "${flags.pod}" in ${where} is ${pod.status?.phase ?? 'not started'}, not Running`,
        'Trace a running pod, or use -l SELECTOR to record pods from their start as they appear.',
      );
    }
    pods = [pod];
    target = { podName: flags.pod };
  } else {
    const selector = flags.selector === undefined ? undefined : targetSelector(flags.selector);
    const query = selector ? { labelSelector: selectorText(selector) } : undefined;
    pods = (await kube.get<List<Pod>>(resourcePath(R.pods, { namespace }), query)).items;
    target = selector ? { selector } : { all: true };
  }
  if (containers) {
    target.containers = containers;
    for (const pod of pods) {
      const names = pod.spec.containers.map((c) => c.name);
      const missing = containers.filter((c) => !names.includes(c));
      if (missing.length) {
        throw new HardenError(
          `container ${missing.map((m) => `"${m}"`).join(', ')} not found in pod "${pod.metadata.name}" in ${where}`,
          `The pod's containers: ${names.join(', ')}.`,
        );
      }
    }
  }
  await requireAgentsReady(kube, pods);
  return { target, pods };
}

/** Every node holding a target must run a ready agent, or the session would silently record nothing. */
async function requireAgentsReady(kube: Kube, pods: Pod[]) {
  const nodes = [...new Set(pods.map((p) => p.spec.nodeName).filter((n): n is string => Boolean(n)))];
  if (!nodes.length) return;
  let agents: Pod[];
  try {
    agents = await listAgentPods(kube);
  } catch (e) {
    // Tracers need no rights on the agent's namespace; without them the agent's own refusal tells.
    if (e instanceof ApiError && e.statusCode === 403) return;
    throw e;
  }
  const notReady = nodes.filter((n) => !agents.some((a) => a.spec.nodeName === n && podReady(a)));
  if (notReady.length) {
    throw new HardenError(
      `the agent is not ready on node ${notReady.map((n) => `"${n}"`).join(', ')} (context "${kube.ctx.context}")`,
      `Check it with: kubectl harden status, or kubectl -n ${AGENT_NAMESPACE} get pods -o wide`,
    );
  }
}
