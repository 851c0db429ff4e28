/**
 * How long starting a session may take. The agent compiles and attaches a new bpftrace program
 * for it; on a loaded node (load 15 on 2 cores in CI) the capabilities program alone took over
 * 30 s of wall time for 4 s of CPU. The CLI waits longer than the agent's budget, so a program
 * that cannot attach is reported by the agent's condition, not by the CLI giving up first.
 */
export const AGENT_ATTACH_TIMEOUT_MS = 90_000;
export const START_TIMEOUT = '2m';
export const START_TIMEOUT_MS = 120_000;
