/**
 * Which kinds of session this node serves, and by which route: for each recorder the first of its
 * routes the node's architecture and kernel serve. A kind no route serves is refused for its own
 * sessions on this node alone; the node's program is assembled only from served routes, so one
 * kind the kernel lacks cannot take the others down. Pure.
 */
import type { SessionType } from '../../session/types';
import type { Dialect } from './dialect';
import { memberKey, type KernelFacts } from './kernel';
import type { MemberNeed, PartInput, Recorder, Route } from './recorder';
import { probesOf } from './program';

export type Support =
  | { recorder: Recorder; route: Route }
  | {
      recorder: Recorder;
      route?: undefined;
      reason: 'UnsupportedArchitecture' | 'KernelUnsupported';
      message: string;
    };

export interface NodeTraits {
  node: string;
  arch: string;
  dialect: Dialect;
}

/** What a route's parts are made from when only their probes matter. */
const sample = (t: NodeTraits): PartInput => ({
  targets: { seeds: [], podPrefixes: [] },
  inputs: [],
  dialect: t.dialect,
  arch: t.arch,
});

const onArch = (r: Route, arch: string) => !r.arches || r.arches.includes(arch);

/** The probes a route attaches on this node (read from its parts' text). */
const probesFor = (r: Route, t: NodeTraits) => probesOf(r.parts(sample(t)));

/** Every probe and struct member the recorders' routes could use on this node: what to ask the kernel. */
export function kernelNeeds(
  recorders: readonly Recorder[],
  t: NodeTraits,
): { probes: Set<string>; members: MemberNeed[] } {
  const routes = recorders.flatMap((r) => r.routes.filter((route) => onArch(route, t.arch)));
  return {
    probes: new Set(routes.flatMap((r) => probesFor(r, t))),
    members: routes.flatMap((r) => r.members ?? []),
  };
}

/** What a route lacks on this kernel, each with why; empty when the kernel serves it. */
function lacking(r: Route, k: KernelFacts, t: NodeTraits): string[] {
  const probes = probesFor(r, t).flatMap((p) => (k.missing[p] ? [`${p} (${k.missing[p]})`] : []));
  // Unknown (no BTF to tell) is not lacking: bpftrace itself says what it cannot read.
  const members = (r.members ?? [])
    .filter((m) => k.members[memberKey(m)] === false)
    .map((m) => `${m.type}.${m.member} (not in the kernel's BTF)`);
  return [...probes, ...members];
}

export function chooseRoutes(
  recorders: readonly Recorder[],
  kernel: KernelFacts,
  t: NodeTraits,
): Map<SessionType, Support> {
  const out = new Map<SessionType, Support>();
  const where = `node "${t.node}" (Linux ${kernel.release}, ${t.arch})`;
  for (const recorder of recorders) {
    const candidates = recorder.routes.filter((r) => onArch(r, t.arch));
    if (!candidates.length) {
      const arches = [...new Set(recorder.routes.flatMap((r) => r.arches ?? []))].join(' or ');
      out.set(recorder.type, {
        recorder,
        reason: 'UnsupportedArchitecture',
        message: `${where} cannot record ${recorder.type} sessions: they need an ${arches} node`,
      });
      continue;
    }
    const why = candidates.map((route) => ({ route, lacks: lacking(route, kernel, t) }));
    const served = why.find((w) => !w.lacks.length);
    if (served) {
      out.set(recorder.type, { recorder, route: served.route });
      continue;
    }
    out.set(recorder.type, {
      recorder,
      reason: 'KernelUnsupported',
      message: `${where} cannot record ${recorder.type} sessions: ${why
        .map((w) => `its ${w.route.name} route needs ${w.lacks.join(', ')}`)
        .join('; ')}`,
    });
  }
  return out;
}
