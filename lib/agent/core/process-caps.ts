// Whether this process may load tracing programs at all: bpftrace run without the capabilities
// reports confusing errors (e.g. "BPF_FUNC_get_current_cgroup_id is not available for your kernel
// version", from its feature probes failing with EPERM), so the agent names the real cause.

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** The effective capability set from /proc/<pid>/status text (its CapEff line), or undefined. */
export function effectiveCaps(procStatus: string): bigint | undefined {
  const hex = /^CapEff:\s*([0-9a-f]+)$/im.exec(procStatus)?.[1];
  return hex === undefined ? undefined : BigInt(`0x${hex}`);
}

/** Why tracing cannot work with these capabilities, or undefined if it can. */
export function missingTracingCaps(caps: bigint): string | undefined {
  const has = (cap: bigint) => ((caps >> cap) & 1n) === 1n;
  if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))) return undefined;
  return (
    'the agent runs without CAP_SYS_ADMIN (or CAP_BPF and CAP_PERFMON), so bpftrace cannot load programs: ' +
    'run its container privileged, as the DaemonSet from `kubectl harden deploy` does'
  );
}
