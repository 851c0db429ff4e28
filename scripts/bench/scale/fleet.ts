/**
 * The benchmark's fleet: N Node objects with no kubelet, K running pods bound to each (no
 * scheduler, no runtime: their status is written here as kubelet would), and per node a cgroup tree
 * in kubelet's cgroupfs layout under a temporary directory, so each agent's own planning finds the
 * pods' containers there. Everything made is removed by `tearDown`, also after a failure.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupLayout, cgroupIdOf } from '../../../lib/agent/core/cgroups';
import { ApiError, type Kube } from '../../../lib/kube/client';
import type { Pod } from '../../../lib/kube/objects';

export const LABEL = { app: 'scale' };
/** Marks every object the benchmark makes, so a crashed run's leftovers can be found. */
export const BENCH_LABEL = 'harden.dev/bench';
/** The pods' one owner: a ReplicaSet that manages none of them, so profiles merge all replicas. */
export const WORKLOAD = 'scale-web';
const CONTAINER = 'main';

export interface FleetPod {
  name: string;
  uid: string;
  containerID: string;
  ip4: string;
  ip6: string;
  /** The container's cgroup directory in its node's tree. */
  dir: string;
}

export interface FleetNode {
  name: string;
  /** The node's cgroup2 "mount": its tree's root. */
  mountPoint: string;
  pods: FleetPod[];
}

export interface Fleet {
  namespace: string;
  root: string;
  nodes: FleetNode[];
}

/** Runs `f` over items with at most `n` at a time. */
export async function pool<T, R>(items: readonly T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]);
      }
    }),
  );
  return out;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

async function makeNode(kube: Kube, name: string): Promise<void> {
  await kube.request('POST', '/api/v1/nodes', {
    body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { [BENCH_LABEL]: 'scale' } } },
  });
  const now = new Date().toISOString();
  await kube.mergePatch(`/api/v1/nodes/${name}/status`, {
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'bench',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      nodeInfo: { architecture: 'amd64', operatingSystem: 'linux' },
    },
  });
}

/** Without kubelet the node lifecycle controller taints the nodes; the pods stay regardless. */
const TOLERATIONS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'].map((key) => ({
  key,
  operator: 'Exists',
  effect: 'NoExecute',
}));

async function makePod(
  kube: Kube,
  namespace: string,
  owner: { name: string; uid: string },
  node: string,
  index: { node: number; pod: number },
): Promise<Omit<FleetPod, 'dir'>> {
  const name = `${node}-p${index.pod}`;
  const created = await kube.request<Pod>('POST', `/api/v1/namespaces/${namespace}/pods`, {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        labels: { ...LABEL, [BENCH_LABEL]: 'scale' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner.name, uid: owner.uid }],
      },
      spec: {
        nodeName: node,
        tolerations: TOLERATIONS,
        terminationGracePeriodSeconds: 0,
        automountServiceAccountToken: false,
        containers: [{ name: CONTAINER, image: 'registry.invalid/scale:never-pulled' }],
      },
    },
  });
  const containerID = `containerd://${hex(32)}`;
  // Unique per pod, as a cluster's are: 10.77.<node>.<pod>, fd00:77::<node>:<pod>.
  const ip4 = `10.77.${index.node}.${index.pod + 1}`;
  const ip6 = `fd00:77::${index.node.toString(16)}:${(index.pod + 1).toString(16)}`;
  const now = new Date().toISOString();
  await kube.mergePatch(`/api/v1/namespaces/${namespace}/pods/${name}/status`, {
    status: {
      phase: 'Running',
      podIP: ip4,
      podIPs: [{ ip: ip4 }, { ip: ip6 }],
      startTime: now,
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      containerStatuses: [
        {
          name: CONTAINER,
          containerID,
          image: 'registry.invalid/scale:never-pulled',
          imageID: '',
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: now } },
        },
      ],
    },
  });
  return { name, uid: created.metadata.uid ?? '', containerID, ip4, ip6 };
}

/** Makes the namespace, nodes, pods and cgroup trees for `nodes` agents with `perNode` pods each. */
export async function buildFleet(
  kube: Kube,
  nodes: number,
  perNode: number,
  log: (m: string) => void,
): Promise<Fleet> {
  const namespace = `harden-scale-${hex(3)}`;
  const root = mkdtempSync(join(tmpdir(), 'harden-scale-'));
  const fleet: Fleet = { namespace, root, nodes: [] };
  try {
    await kube.request('POST', '/api/v1/namespaces', {
      body: {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: namespace, labels: { [BENCH_LABEL]: 'scale' } },
      },
    });
    // Pods are refused until their service account exists; the controller that makes it may lag.
    await kube
      .request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
        body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } },
      })
      .catch((e: unknown) => {
        if (!(e instanceof ApiError && e.statusCode === 409)) throw e;
      });
    // Selects nothing and wants none: it only gives the pods a workload name.
    const rs = await kube.request<{ metadata: { uid: string } }>(
      'POST',
      `/apis/apps/v1/namespaces/${namespace}/replicasets`,
      {
        body: {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: { name: WORKLOAD },
          spec: {
            replicas: 0,
            selector: { matchLabels: { app: 'scale-none' } },
            template: {
              metadata: { labels: { app: 'scale-none' } },
              spec: { containers: [{ name: CONTAINER, image: 'registry.invalid/none' }] },
            },
          },
        },
      },
    );
    const names = Array.from({ length: nodes }, (_, i) => `scale-n${String(i).padStart(3, '0')}`);
    await pool(names, 16, (n) => makeNode(kube, n));
    log(`${nodes} nodes made`);
    const jobs = names.flatMap((node, n) => Array.from({ length: perNode }, (_, p) => ({ node, n, p })));
    const pods = await pool(jobs, 16, (j) =>
      makePod(kube, namespace, { name: WORKLOAD, uid: rs.metadata.uid }, j.node, { node: j.n, pod: j.p }),
    );
    log(`${pods.length} pods made`);
    for (const [n, name] of names.entries()) {
      const mountPoint = join(root, name, 'cgroup');
      const layout = new CgroupLayout({ mountPoint, root: '/' }, 'cgroupfs');
      const mine = pods
        .filter((_, i) => jobs[i].n === n)
        .map((p) => {
          const dir = layout.containerDir('BestEffort', p.uid, p.containerID);
          if (!dir) throw new Error(`no cgroup directory for ${p.containerID}`);
          mkdirSync(dir, { recursive: true });
          return { ...p, dir };
        });
      fleet.nodes.push({ name, mountPoint, pods: mine });
    }
  } catch (e) {
    // Half made is still made: removed here, since the caller never gets the fleet to tear down.
    await tearDown(kube, fleet).catch(() => undefined);
    throw e;
  }
  return fleet;
}

/** The cgroup id (inode) of each pod's container, as the agent will read it. */
export function cgroupsOf(node: FleetNode): Map<string, FleetPod> {
  return new Map(node.pods.map((p) => [cgroupIdOf(p.dir) ?? '', p]));
}

const ignoreMissing = (e: unknown) => {
  if (!(e instanceof ApiError && e.statusCode === 404)) throw e;
};

/**
 * Removes what buildFleet made (and any bench node left by an earlier run). Pods go first, with no
 * grace period: no kubelet would ever confirm their end.
 */
export async function tearDown(
  kube: Kube,
  fleet: Pick<Fleet, 'namespace' | 'root'> | undefined,
): Promise<void> {
  if (fleet) {
    const ns = fleet.namespace;
    await kube
      .request('DELETE', `/api/v1/namespaces/${ns}/pods`, { query: { gracePeriodSeconds: 0 } })
      .catch(ignoreMissing);
    await kube.request('DELETE', `/api/v1/namespaces/${ns}`).catch(ignoreMissing);
    rmSync(fleet.root, { recursive: true, force: true });
  }
  await kube
    .request('DELETE', '/api/v1/nodes', { query: { labelSelector: `${BENCH_LABEL}=scale` } })
    .catch(ignoreMissing);
}
