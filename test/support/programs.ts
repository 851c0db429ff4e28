// The programs the agent assembles for one session kind alone, for tests that run or read them.
import { assembleProgram } from '../../lib/agent/assemble';
import type { Dialect } from '../../lib/agent/dialect';
import { extraOf } from '../../lib/agent/plan';
import type { Program, ProgramTargets } from '../../lib/agent/program';

/** Only seccomp sessions on the node. */
export function seccompOnlyProgram(t: ProgramTargets, intervalMs: number, dialect: Dialect): Program {
  return assembleProgram(
    {
      ...t,
      extra: extraOf({ seccomp: true, network: false, capabilities: false, openNetwork: false, podIPs: [] }),
    },
    intervalMs,
    dialect,
  );
}

/** Only pod-name network sessions on the node, whose pods have these addresses. */
export function networkOnlyProgram(
  t: ProgramTargets,
  podIPs: string[],
  intervalMs: number,
  dialect: Dialect,
): Program {
  return assembleProgram(
    {
      ...t,
      extra: extraOf({ seccomp: false, network: true, capabilities: false, openNetwork: false, podIPs }),
    },
    intervalMs,
    dialect,
  );
}
