/**
 * The one program the agent runs: the target cgroups (armed as they are made), then the part of
 * each recorder planned, by the route the node serves it with, in the registry's order. Pure: the
 * same targets, routes and dialect give the same text.
 */
import type { Dialect } from './dialect';
import { partsOf } from './plan';
import { composeProgram, targetCgroupsPart, type Program, type ProgramTargets } from './program';
import type { Recorder, Route } from './recorder';

export interface AssembleOptions {
  intervalMs: number;
  dialect: Dialect;
  /** The node's architecture, GOARCH naming. */
  arch: string;
  /** The served recorders in the registry's order, each with its route on this node. */
  routes: readonly { recorder: Recorder; route: Route }[];
}

export function assembleProgram(t: ProgramTargets, o: AssembleOptions): Program {
  const planned = new Map(
    partsOf(
      t,
      o.routes.map((r) => r.recorder),
    ).map((p) => [p.recorder, p.inputs]),
  );
  const parts = o.routes.flatMap(({ recorder, route }) => {
    const inputs = planned.get(recorder);
    return inputs ? route.parts({ targets: t, inputs, dialect: o.dialect, arch: o.arch }) : [];
  });
  return composeProgram([targetCgroupsPart(t, o.dialect), ...parts], o.intervalMs, o.dialect, t.newerThan);
}
