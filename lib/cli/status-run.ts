import type { NodeReport } from '../agent/core/node-report';
import { HardenError } from '../errors';
import type { Deps } from './context';
import { printObject, renderTable } from './output';
import { AGENT_NAME, AGENT_NAMESPACE, NODE_REPORT_KEY, NODE_REPORT_SELECTOR } from '../session/agent-names';
import { R, resourcePath } from '../kube/paths';
import type { DaemonSet, KubeObject, List, Node } from '../kube/objects';
import { podReady } from '../kube/objects';
import { listAgentPods } from '../session/agents';
import { activeSessions, withRecords } from '../session/client';

export interface NodeAgentStatus {
  node: string;
  agentPod: string | null;
  ready: boolean;
  agentVersion: string | null;
  kernel: string | null;
  bpftraceVersion: string | null;
  /** The kinds of session the node's agent serves, by which route (from its report). */
  serves: NodeReport['serves'];
  /** The kinds it refuses, and why. */
  refuses: NodeReport['refuses'];
  activeSessions: string[];
}

type ConfigMap = KubeObject & { data?: Record<string, string> };

/** The reports the agents published, by node; one that cannot be read is as none. */
async function nodeReports(kube: Deps['kube']): Promise<Map<string, NodeReport>> {
  const list = await kube.get<List<ConfigMap>>(resourcePath(R.configmaps, { namespace: AGENT_NAMESPACE }), {
    labelSelector: NODE_REPORT_SELECTOR,
  });
  const out = new Map<string, NodeReport>();
  for (const cm of list.items) {
    try {
      const r = JSON.parse(cm.data?.[NODE_REPORT_KEY] ?? '') as NodeReport;
      out.set(r.node, r);
    } catch {
      // An agent of another release, or a hand-edited object: its columns stay empty.
    }
  }
  return out;
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
  const [nodes, pods, sessions, reports] = await Promise.all([
    kube.get<List<Node>>(resourcePath(R.nodes)),
    listAgentPods(kube),
    activeSessions(kube).then((active) => withRecords(kube, active, undefined)),
    nodeReports(kube),
  ]);
  const rows: NodeAgentStatus[] = nodes.items
    .map((node) => {
      const name = node.metadata.name;
      const pod = pods.find((p) => p.spec.nodeName === name);
      const records = sessions.flatMap((s) =>
        (s.status?.nodes ?? []).filter((n) => n.node === name).map((n) => ({ s, n })),
      );
      const latest = records.sort((a, b) => (a.n.lastFlush < b.n.lastFlush ? 1 : -1))[0]?.n;
      const report = reports.get(name);
      return {
        node: name,
        agentPod: pod?.metadata.name ?? null,
        ready: pod ? podReady(pod) : false,
        agentVersion:
          latest?.agentVersion ??
          report?.agentVersion ??
          pod?.metadata.annotations?.['harden.dev/agent-version'] ??
          null,
        kernel: report?.kernel ?? node.status?.nodeInfo?.kernelVersion ?? null,
        bpftraceVersion: latest?.bpftraceVersion ?? report?.bpftraceVersion ?? null,
        serves: report?.serves ?? [],
        refuses: report?.refuses ?? [],
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
      ['node', 'agent pod', 'ready', 'version', 'kernel', 'bpftrace', 'serves', 'sessions'],
      rows.map((r) => [
        r.node,
        r.agentPod ?? '<none>',
        r.ready ? 'true' : 'false',
        r.agentVersion ?? '-',
        r.kernel ?? '-',
        r.bpftraceVersion ?? '-',
        r.serves.map((s) => s.type).join(',') || '-',
        r.activeSessions.length,
      ]),
      io.colour,
    ),
  );
}
