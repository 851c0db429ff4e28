/**
 * The one program the agent runs, assembled from the parts every session kind on the node needs:
 * seccomp's arming and syscall sets, or (network only) just the arming of target cgroups, plus the
 * flow maps when a network session runs, and the privilege maps when a capabilities session runs.
 * Pure: the same targets and dialect give the same text.
 */
import type { NodeArch } from '../seccomp/names';
import { capsPart } from './caps-program';
import type { Dialect } from './dialect';
import { netPart } from './net-program';
import { kindsOf } from './plan';
import {
  armingPart,
  composeProgram,
  syscallPart,
  targetCgroupsPart,
  type Program,
  type ProgramTargets,
} from './program';

/** `arch` (the node's) is needed when a capabilities session runs: it reads saved user registers. */
export function assembleProgram(
  t: ProgramTargets,
  intervalMs: number,
  dialect: Dialect,
  arch?: NodeArch,
): Program {
  const kinds = kindsOf(t);
  const parts = kinds.seccomp ? [armingPart(t, dialect), syscallPart()] : [targetCgroupsPart(t, dialect)];
  if (kinds.network) parts.push(netPart(kinds.podIPs, kinds.openNetwork));
  if (kinds.capabilities) {
    if (!arch) throw new Error('a capabilities program needs the node architecture');
    parts.push(capsPart(t, arch));
  }
  return composeProgram(parts, intervalMs, dialect);
}
