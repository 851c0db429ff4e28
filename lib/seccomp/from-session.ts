import type { ContainerRecord, NodeRecord } from '../session/types';
import { isNodeArch } from './names';
import type { ContainerObservation } from './profile';
import type { ContainerRuntime } from './runtime-syscalls';

/**
 * One container's syscalls as a node recorded them: what the syscalls recorder's session reader
 * (syscallRecordsOf) gives, which the caller passes (lib/agent imports this folder, not the reverse).
 */
export type RecordedSyscalls = Pick<
  ContainerRecord,
  'pod' | 'workload' | 'container' | 'recordedFromStart' | 'filterSeen'
> &
  Pick<NodeRecord, 'node' | 'arch'> & { syscalls: number[] };

/** What the agents recorded in a session of `namespace`, as the profile builder's observations. Pure. */
export function observationsOf(
  namespace: string,
  records: readonly RecordedSyscalls[],
  runtime: ContainerRuntime,
): ContainerObservation[] {
  return records.map((r) => {
    const arch = r.arch;
    if (!isNodeArch(arch)) {
      throw new Error(
        `node "${r.node}" reported architecture "${r.arch}", which kubectl-harden has no syscall table for`,
      );
    }
    return {
      namespace,
      workload: r.workload || r.pod,
      container: r.container,
      arch,
      syscalls: r.syscalls,
      startSeen: r.recordedFromStart,
      filterSeen: r.filterSeen,
      runtime,
    };
  });
}
