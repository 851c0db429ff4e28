/**
 * The one program the agent runs, assembled from the parts every session kind on the node needs:
 * seccomp's arming and syscall sets, or (network only) just the arming of target cgroups, plus the
 * flow maps when a network session runs. Pure: the same targets give the same text.
 */
import { netPart, targetsPart } from './net-program';
import { kindsOf } from './plan';
import {
  armingPart,
  composeProgram,
  programEnv,
  syscallPart,
  type Program,
  type ProgramTargets,
} from './program';

export function assembleProgram(t: ProgramTargets, intervalMs: number): Program {
  const kinds = kindsOf(t);
  const parts = kinds.seccomp ? [armingPart(t), syscallPart()] : [targetsPart(t)];
  if (kinds.network) parts.push(netPart(kinds.podIPs, kinds.openNetwork));
  return { text: composeProgram(parts, intervalMs), env: programEnv() };
}
