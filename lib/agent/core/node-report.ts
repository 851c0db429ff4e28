/**
 * What this node's agent tells `kubectl harden status`: the node's kernel and which kinds of session
 * it serves, by which route, and why not the others. Published at every agent start as a ConfigMap
 * in the agent's namespace, owned by the agent's pod (it goes with the pod; the next pod, maybe on
 * a new kernel, publishes its own): the agent needs no write access to Nodes or Pods.
 */
import type { Kube } from '../../kube/client';
import { R, resourcePath } from '../../kube/paths';
import {
  AGENT_NAMESPACE,
  NODE_REPORT_KEY,
  NODE_REPORT_SELECTOR,
  nodeReportName,
} from '../../session/agent-names';
import type { SessionType } from '../../session/types';
import type { BpftraceProbe } from './dialect';
import type { KernelFacts } from './kernel';
import type { Support } from './support';

export interface NodeReport {
  node: string;
  arch: string;
  /** The kernel release (uname -r). */
  kernel: string;
  btf: boolean;
  agentVersion: string;
  bpftraceVersion: string;
  serves: { type: SessionType; route: string }[];
  refuses: { type: SessionType; reason: string; message: string }[];
}

/** The report of a node; an unusable bpftrace serves nothing, for the reason it gives. */
export function nodeReport(
  facts: { node: string; arch: string; agentVersion: string },
  kernel: KernelFacts,
  bpftrace: BpftraceProbe,
  support: ReadonlyMap<SessionType, Support>,
): NodeReport {
  const all = [...support.values()];
  const problem = bpftrace.problem;
  return {
    ...facts,
    kernel: kernel.release,
    btf: kernel.btf,
    bpftraceVersion: bpftrace.version,
    serves: problem
      ? []
      : all.flatMap((s) => (s.route ? [{ type: s.recorder.type, route: s.route.name }] : [])),
    refuses: all.flatMap((s) => {
      if (problem) return [{ type: s.recorder.type, reason: problem.reason, message: problem.message }];
      return s.route ? [] : [{ type: s.recorder.type, reason: s.reason, message: s.message }];
    }),
  };
}

/** Server-side apply of the report; `owner` is the agent's pod when the DaemonSet says which. */
export async function publishNodeReport(
  kube: Kube,
  report: NodeReport,
  owner?: { name: string; uid: string },
): Promise<void> {
  const name = nodeReportName(report.node);
  const [key, value] = NODE_REPORT_SELECTOR.split('=');
  await kube.apply(
    resourcePath(R.configmaps, { namespace: AGENT_NAMESPACE, name }),
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: AGENT_NAMESPACE,
        labels: { 'app.kubernetes.io/part-of': 'kubectl-harden', [key]: value },
        ...(owner ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', ...owner }] } : {}),
      },
      data: { [NODE_REPORT_KEY]: `${JSON.stringify(report, null, 2)}\n` },
    },
    { fieldManager: `harden-agent/${report.node}` },
  );
}
