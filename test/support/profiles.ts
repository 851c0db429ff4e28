// Seccomp profiles the tests and the demo put workloads under.
import { hostArch } from './syscalls';

const ARCHITECTURES = {
  amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
};

/**
 * Like containerd's RuntimeDefault for this purpose: a filter is installed (so runc's post-filter
 * window is recorded), almost nothing is denied. One copy, for the e2e tests and the demo alike.
 */
export const RUNTIME_DEFAULT_LIKE = {
  defaultAction: 'SCMP_ACT_ALLOW',
  architectures: ARCHITECTURES[hostArch()],
  syscalls: [
    { names: ['kexec_load', 'open_by_handle_at', 'bpf', 'perf_event_open'], action: 'SCMP_ACT_ERRNO' },
  ],
};
