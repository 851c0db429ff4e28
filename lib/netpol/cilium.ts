import type { LabelSelector, Labels } from './log';
import {
  policyMetadata,
  type NodeRelation,
  type PolicyPeer,
  type PolicyPort,
  type PolicyRule,
  type WorkloadPolicy,
} from './synthesize';

/**
 * The same rules spelled as Cilium's `cilium.io/v2` CiliumNetworkPolicy. Pure.
 *
 * - Pods: an endpoint selector with the namespace as Cilium labels it
 *   (`k8s:io.kubernetes.pod.namespace`), always written, so the meaning never depends on where the
 *   policy lives.
 * - Addresses: `fromCIDR`/`toCIDR`. Node addresses are entities instead: Cilium gives nodes the
 *   `host` (the pod's own node) and `remote-node` identities, which CIDR rules do not match; the
 *   `kubernetes` Service's endpoints are the `kube-apiserver` entity, the identity Cilium gives
 *   the API server's addresses, on a node or not.
 * - DNS: the rule to the cluster's resolvers carries `rules.dns` (matchPattern "*"), so Cilium's DNS
 *   proxy sees the names (what `toFQDNs` rules build on) while every name is still allowed.
 * - Default deny both ways, as the NetworkPolicy's policyTypes say: `enableDefaultDeny` (Cilium
 *   1.15+), and a direction with no rule is `[{}]`, which older Cilium also reads as deny-all
 *   (an absent or empty list would leave that direction open there).
 */

const NAMESPACE_LABEL = 'k8s:io.kubernetes.pod.namespace';

export interface CiliumPortRule {
  ports: { port: string; protocol: PolicyPort['protocol'] }[];
  rules?: { dns: { matchPattern: string }[] };
}

export interface CiliumRule {
  fromEndpoints?: LabelSelector[];
  toEndpoints?: LabelSelector[];
  fromCIDR?: string[];
  toCIDR?: string[];
  fromEntities?: string[];
  toEntities?: string[];
  toPorts?: CiliumPortRule[];
}

export interface CiliumNetworkPolicy {
  apiVersion: 'cilium.io/v2';
  kind: 'CiliumNetworkPolicy';
  metadata: { name: string; namespace: string; labels: Labels; annotations: Labels };
  spec: {
    endpointSelector: LabelSelector;
    enableDefaultDeny: { ingress: true; egress: true };
    ingress: CiliumRule[];
    egress: CiliumRule[];
  };
}

const ENTITIES: Record<NodeRelation, string[]> = {
  own: ['host'],
  other: ['remote-node'],
  unknown: ['host', 'remote-node'],
};

function endpoint(p: Extract<PolicyPeer, { kind: 'pods' }>): LabelSelector {
  const out: LabelSelector = { matchLabels: { ...p.selector.matchLabels, [NAMESPACE_LABEL]: p.namespace } };
  if (p.selector.matchExpressions) out.matchExpressions = p.selector.matchExpressions;
  return out;
}

/** One policy rule → one Cilium rule per kind of peer (endpoints, CIDRs, entities), each with the ports. */
function rules(rule: PolicyRule, dir: 'from' | 'to'): CiliumRule[] {
  const endpoints: LabelSelector[] = [];
  const cidrs: string[] = [];
  const entities = new Set<string>();
  for (const p of rule.peers) {
    if (p.kind === 'pods') endpoints.push(endpoint(p));
    else if (p.apiserver) entities.add('kube-apiserver');
    else if (p.node) for (const e of ENTITIES[p.node]) entities.add(e);
    else cidrs.push(p.cidr);
  }
  const toPorts: CiliumPortRule[] = [
    {
      ports: rule.ports.map((p) => ({ port: String(p.port), protocol: p.protocol })),
      ...(rule.dns ? { rules: { dns: [{ matchPattern: '*' }] } } : {}),
    },
  ];
  const out: CiliumRule[] = [];
  if (endpoints.length) out.push({ [`${dir}Endpoints`]: endpoints, toPorts });
  if (cidrs.length) out.push({ [`${dir}CIDR`]: cidrs, toPorts });
  if (entities.size) out.push({ [`${dir}Entities`]: [...entities].sort(), toPorts });
  return out;
}

function direction(list: PolicyRule[], dir: 'from' | 'to'): CiliumRule[] {
  const out = list.flatMap((r) => rules(r, dir));
  return out.length ? out : [{}];
}

export function toCiliumPolicy(w: WorkloadPolicy): CiliumNetworkPolicy {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: policyMetadata(w),
    spec: {
      endpointSelector: w.selector,
      enableDefaultDeny: { ingress: true, egress: true },
      ingress: direction(w.ingress, 'from'),
      egress: direction(w.egress, 'to'),
    },
  };
}
