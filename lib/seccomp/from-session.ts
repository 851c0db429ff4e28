import type { TraceSession } from '../session/types';
import type { NodeArch } from './names';
import type { ContainerObservation } from './profile';
import type { ContainerRuntime } from './runtime-syscalls';

const ARCHES: readonly string[] = ['amd64', 'arm64'];

/** What the agents wrote into a session's status, as the profile builder's observations. Pure. */
export function observationsOf(session: TraceSession, runtime: ContainerRuntime): ContainerObservation[] {
  return (session.status?.nodes ?? []).flatMap((node) =>
    (node.containers ?? []).map((c) => {
      if (!ARCHES.includes(node.arch)) {
        throw new Error(
          `node "${node.node}" reported architecture "${node.arch}", which kubectl-harden has no syscall table for`,
        );
      }
      return {
        namespace: session.metadata.namespace,
        workload: c.workload || c.pod,
        container: c.container,
        arch: node.arch as NodeArch,
        syscalls: c.syscalls ?? [],
        startSeen: c.recordedFromStart,
        filterSeen: c.filterSeen,
        runtime,
      };
    }),
  );
}
