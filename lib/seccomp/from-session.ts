import type { TraceSession } from '../session/types';
import { isNodeArch } from './names';
import type { ContainerObservation } from './profile';
import type { ContainerRuntime } from './runtime-syscalls';

/** What the agents wrote into a session's status, as the profile builder's observations. Pure. */
export function observationsOf(session: TraceSession, runtime: ContainerRuntime): ContainerObservation[] {
  return (session.status?.nodes ?? []).flatMap((node) =>
    (node.containers ?? []).map((c) => {
      const arch = node.arch;
      if (!isNodeArch(arch)) {
        throw new Error(
          `node "${node.node}" reported architecture "${node.arch}", which kubectl-harden has no syscall table for`,
        );
      }
      return {
        namespace: session.metadata.namespace,
        workload: c.workload || c.pod,
        container: c.container,
        arch,
        syscalls: c.syscalls ?? [],
        startSeen: c.recordedFromStart,
        filterSeen: c.filterSeen,
        runtime,
      };
    }),
  );
}
