import { HardenError } from '../errors';
import type { Deps } from './context';
import { printObject, renderTable } from './output';
import { AGENT_NAME, AGENT_NAMESPACE } from '../session/agent-names';
import { R, resourcePath } from '../kube/paths';
import type { DaemonSet, List, Node } from '../kube/objects';
import { podReady } from '../kube/objects';
import { listAgentPods } from '../session/agents';
import { activeSessions } from '../session/client';

export interface NodeAgentStatus {
  node: string;
  agentPod: string | null;
  ready: boolean;
  agentVersion: string | null;
  kernel: string | null;
  bpftraceVersion: string | null;
  activeSessions: string[];
}

export async function runStatus(
  opts: { output: 'table' | 'json' | 'yaml' },
  { kube, io }: Pick<Deps, 'kube' | 'io'>,
): Promise<void> {
  const format = opts.output;
  const ds = await kube.getOptional<DaemonSet>(
    resourcePath(R.daemonsets, { namespace: AGENT_NAMESPACE, name: AGENT_NAME }),
  );
  if (!ds) {
    throw new HardenError(
      `the agent is not deployed: no DaemonSet ${AGENT_NAMESPACE}/${AGENT_NAME} (context "${kube.ctx.context}")`,
      'Run: kubectl harden deploy',
    );
  }
  const [nodes, pods, sessions] = await Promise.all([
    kube.get<List<Node>>(resourcePath(R.nodes)),
    listAgentPods(kube),
    activeSessions(kube),
  ]);
  const rows: NodeAgentStatus[] = nodes.items
    .map((node) => {
      const name = node.metadata.name;
      const pod = pods.find((p) => p.spec.nodeName === name);
      const records = sessions.flatMap((s) =>
        (s.status?.nodes ?? []).filter((n) => n.node === name).map((n) => ({ s, n })),
      );
      const latest = records.sort((a, b) => (a.n.lastFlush < b.n.lastFlush ? 1 : -1))[0]?.n;
      return {
        node: name,
        agentPod: pod?.metadata.name ?? null,
        ready: pod ? podReady(pod) : false,
        agentVersion: latest?.agentVersion ?? pod?.metadata.annotations?.['harden.dev/agent-version'] ?? null,
        kernel: node.status?.nodeInfo?.kernelVersion ?? null,
        bpftraceVersion: latest?.bpftraceVersion ?? null,
        activeSessions: records.map(({ s }) => `${s.metadata.namespace}/${s.metadata.name}`).sort(),
      };
    })
    .sort((a, b) => a.node.localeCompare(b.node));
  if (format !== 'table') {
    io.out(printObject({ daemonSet: `${AGENT_NAMESPACE}/${AGENT_NAME}`, nodes: rows }, format));
    return;
  }
  io.out(
    renderTable(
      ['node', 'agent pod', 'ready', 'version', 'kernel', 'bpftrace', 'sessions'],
      rows.map((r) => [
        r.node,
        r.agentPod ?? '<none>',
        r.ready ? 'true' : 'false',
        r.agentVersion ?? '-',
        r.kernel ?? '-',
        r.bpftraceVersion ?? '-',
        r.activeSessions.length,
      ]),
      io.colour,
    ),
  );
}
