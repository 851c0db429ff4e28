import { AGENT_NAMESPACE, AGENT_SELECTOR } from './agent-names';
import type { Kube } from '../kube/client';
import type { List, Pod } from '../kube/objects';
import { R, resourcePath } from '../kube/paths';

/** The agent's pods, one per node: the one query `deploy`, `status` and session start share. */
export async function listAgentPods(kube: Kube): Promise<Pod[]> {
  const list = await kube.get<List<Pod>>(resourcePath(R.pods, { namespace: AGENT_NAMESPACE }), {
    labelSelector: AGENT_SELECTOR,
  });
  return list.items;
}
