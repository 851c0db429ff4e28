/**
 * Where the agent runs and how it is found: what `deploy` makes so, what the agent itself and the
 * plugin's commands look for. Pure data.
 */
export const AGENT_NAMESPACE = 'harden-system';
export const AGENT_NAME = 'harden-agent';
export const AGENT_LABELS = {
  'app.kubernetes.io/name': AGENT_NAME,
  'app.kubernetes.io/part-of': 'kubectl-harden',
};
/** Selects the agent's pods (the DaemonSet's selector, and every query for them). */
export const AGENT_SELECTOR = `app.kubernetes.io/name=${AGENT_NAME}`;
/** Where the agent signals readiness (bpftrace found, API reachable) for its readiness probe. */
export const READY_FILE = '/run/harden/ready';

/** Labels the per-node reports the agents publish in AGENT_NAMESPACE (kernel, kinds served). */
export const NODE_REPORT_SELECTOR = 'harden.dev/node-report=true';
/** The data key of a node report's JSON (see lib/agent/core/node-report.ts). */
export const NODE_REPORT_KEY = 'node.json';

/** A node's report's ConfigMap name (a DNS subdomain of at most 253 characters, like the node's). */
export function nodeReportName(node: string): string {
  return `harden-node-${node}`.slice(0, 253).replace(/[.-]+$/, '');
}

/** kubelet's --root-dir by default; its seccomp root (Localhost profiles) is `<root>/seccomp`. */
export const DEFAULT_KUBELET_ROOT = '/var/lib/kubelet';
/** Where the agent's container sees the node's kubelet seccomp root. */
export const SECCOMP_MOUNT = '/host/kubelet-seccomp';
