// `kubectl harden status`: per node, its kernel and the kinds of session its agent serves (from the
// report the agent publishes), and in -o json/yaml the kinds it refuses, with why.
import type { NodeReport } from '../../../lib/agent/core/node-report';
import type { KubeObject, Node } from '../../../lib/kube/objects';
import { R } from '../../../lib/kube/paths';
import {
  AGENT_NAME,
  AGENT_NAMESPACE,
  NODE_REPORT_KEY,
  nodeReportName,
} from '../../../lib/session/agent-names';
import { clusterWithAgent, runCli } from '../fake-cluster';

const report: NodeReport = {
  node: 'node-1',
  arch: 'amd64',
  kernel: '6.1.0-28-amd64',
  btf: true,
  agentVersion: '0.1.0',
  bpftraceVersion: 'bpftrace v0.23.2',
  serves: [
    { type: 'seccomp', route: 'tracepoint' },
    { type: 'network', route: 'tracepoint' },
  ],
  refuses: [
    {
      type: 'capabilities',
      reason: 'KernelUnsupported',
      message:
        'node "node-1" (Linux 6.1.0-28-amd64, amd64) cannot record capabilities sessions: its tracepoint route needs tracepoint:capability:cap_capable (the kernel has no tracepoint capability:cap_capable)',
    },
  ],
};

function cluster() {
  const c = clusterWithAgent();
  c.put(R.daemonsets, { metadata: { name: AGENT_NAME, namespace: AGENT_NAMESPACE } });
  for (const name of ['node-1', 'node-2']) {
    const node: Node = {
      metadata: { name },
      status: { nodeInfo: { kernelVersion: `kubelet-says-${name}` } },
    };
    c.put(R.nodes, node);
  }
  const published: KubeObject & { data: Record<string, string> } = {
    metadata: {
      name: nodeReportName('node-1'),
      namespace: AGENT_NAMESPACE,
      labels: { 'harden.dev/node-report': 'true' },
    },
    data: { [NODE_REPORT_KEY]: JSON.stringify(report) },
  };
  c.put(R.configmaps, published);
  return c;
}

test('the table: the kernel the agent probed and the kinds it serves; a node without a report shows none', async () => {
  const r = await runCli(['status'], cluster());
  expect(r.code).toBe(0);
  const lines = r.out.trim().split('\n');
  expect(lines[0]).toMatch(/^NODE\s+AGENT POD\s+READY\s+VERSION\s+KERNEL\s+BPFTRACE\s+SERVES\s+SESSIONS$/);
  expect(lines[1]).toMatch(
    /^node-1\s+harden-agent-x\s+true\s+0\.1\.0\s+6\.1\.0-28-amd64\s+bpftrace v0\.23\.2\s+seccomp,network\s+0$/,
  );
  expect(lines[2]).toMatch(/^node-2\s+<none>\s+false\s+-\s+kubelet-says-node-2\s+-\s+-\s+0$/);
});

test('-o json names the refusals with their reasons', async () => {
  const r = await runCli(['status', '-o', 'json'], cluster());
  expect(r.code).toBe(0);
  const { nodes } = JSON.parse(r.out) as { nodes: { node: string; serves: unknown[]; refuses: unknown[] }[] };
  expect(nodes[0]).toMatchObject({ node: 'node-1', serves: report.serves, refuses: report.refuses });
  expect(nodes[1]).toMatchObject({ node: 'node-2', serves: [], refuses: [] });
});
