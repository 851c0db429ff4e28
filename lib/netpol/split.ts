import { appliedBytes, LAST_APPLIED_LIMIT, type Sized } from './limits';
import { partName } from './names';
import type { PolicyRule, WorkloadPolicy } from './synthesize';

type Direction = 'ingress' | 'egress';

interface Unit {
  direction: Direction;
  rule: PolicyRule;
}

/**
 * A workload's policy as as many as `kubectl apply` takes: each under the 256 KiB its
 * last-applied annotation holds (`limit`), with the same selector and policy types, the rules dealt
 * out in order, a rule too big alone cut by its peers. Policies
 * add up (NetworkPolicy's and CiliumNetworkPolicy's alike), so what the parts allow together is
 * exactly what the whole would; nothing is widened (that is --aggregate's, asked for). Parts are
 * named `<name>`, `<name>-2`, …; a policy that fits is returned as it is. `render`: the spelling
 * whose size counts. Pure.
 */
export function splitToFit<T extends Sized>(
  w: WorkloadPolicy,
  render: (w: WorkloadPolicy) => T,
  limit = LAST_APPLIED_LIMIT,
): WorkloadPolicy[] {
  const size = (p: WorkloadPolicy) => appliedBytes(render(p));
  if (size(w) <= limit) return [w];
  const empty: WorkloadPolicy = { ...w, ingress: [], egress: [] };
  const base = size(empty);
  const alone = (u: Unit) => size(withUnits(empty, [u]));
  // Each unit's cost is what it adds to an empty policy (rule sizes add up, give or take a comma).
  const units: { unit: Unit; cost: number }[] = [];
  const pending: Unit[] = [
    ...w.ingress.map((rule): Unit => ({ direction: 'ingress', rule })),
    ...w.egress.map((rule): Unit => ({ direction: 'egress', rule })),
  ];
  while (pending.length) {
    const u = pending.shift() as Unit;
    const bytes = alone(u);
    if (bytes <= limit) units.push({ unit: u, cost: bytes - base });
    else if (u.rule.peers.length > 1) pending.unshift(...halves(u));
    else return [w]; // one peer alone too big: nothing to split; the caller reports the size
  }
  const parts: Unit[][] = [[]];
  let used = base;
  for (const { unit, cost } of units) {
    // A few bytes per rule for separators the estimate leaves out.
    if (parts[parts.length - 1].length && used + cost + 16 > limit) {
      parts.push([]);
      used = base;
    }
    parts[parts.length - 1].push(unit);
    used += cost + 16;
  }
  return parts.map((p, i) => ({ ...withUnits(empty, p), name: i === 0 ? w.name : partName(w.name, i + 1) }));
}

function withUnits(w: WorkloadPolicy, units: Unit[]): WorkloadPolicy {
  const rules = (d: Direction) => units.filter((u) => u.direction === d).map((u) => u.rule);
  return { ...w, ingress: rules('ingress'), egress: rules('egress') };
}

/** A rule's peers in two halves, each allowed on the same ports (and each still a DNS rule if it was). */
function halves(u: Unit): Unit[] {
  const mid = Math.ceil(u.rule.peers.length / 2);
  return [
    { direction: u.direction, rule: { ...u.rule, peers: u.rule.peers.slice(0, mid) } },
    { direction: u.direction, rule: { ...u.rule, peers: u.rule.peers.slice(mid) } },
  ];
}
