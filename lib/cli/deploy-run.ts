import { HardenError } from '../errors';
import type { Deps, Io } from './context';
import { toJson, toYamlDocuments } from './output';
import { deployManifests, optionalManifest } from '../deploy/manifests';
import { AGENT_NAME, AGENT_NAMESPACE, AGENT_SELECTOR } from '../session/agent-names';
import { ApiError, type Kube } from '../kube/client';
import { objectName, objectPath, R, resourcePath } from '../kube/paths';
import type { DaemonSet, KubeObject, List, Pod } from '../kube/objects';
import { podReady } from '../kube/objects';
import { waitUntil } from '../kube/wait';
import { listAgentPods } from '../session/agents';
import { activeSessions } from '../session/client';

type Manifest = ReturnType<typeof deployManifests>[number];

export interface DeployOptions {
  image?: string;
  kubeletRoot?: string;
  /** server: validate on the server without persisting. */
  dryRun: 'none' | 'server';
  wait: boolean;
  timeoutMs: number;
}

export interface UndeployOptions {
  force: boolean;
  wait: boolean;
  timeoutMs: number;
}

/** `deploy --dry-run=client`: the objects, printed, with no cluster involved. */
export function printManifests(
  opts: { image?: string; kubeletRoot?: string; output: 'yaml' | 'json' },
  io: Io,
): void {
  const manifests = deployManifests({ image: opts.image, kubeletRoot: opts.kubeletRoot });
  io.out(
    opts.output === 'json'
      ? toJson({ apiVersion: 'v1', kind: 'List', items: manifests })
      : toYamlDocuments(manifests),
  );
}

export async function runDeploy(opts: DeployOptions, { kube, io }: Pick<Deps, 'kube' | 'io'>): Promise<void> {
  const manifests = deployManifests({ image: opts.image, kubeletRoot: opts.kubeletRoot });
  const server = opts.dryRun === 'server';
  await waitNamespaceGone(kube, io);
  // What was there before, so a rollout that fails can leave the cluster as it found it.
  const before = new Map<Manifest, unknown>();
  if (!server && opts.wait)
    for (const obj of manifests) before.set(obj, await kube.getOptional(objectPath(obj)));
  for (const obj of manifests) {
    try {
      await kube.apply(objectPath(obj), obj, { dryRun: server });
    } catch (e) {
      const without = optionalManifest(obj);
      if (!(without && e instanceof ApiError && e.statusCode === 404)) throw e;
      io.err(`warning: ${objectName(obj)} not applied: ${without}`);
      continue;
    }
    io.out(`${objectName(obj)} serverside-applied${server ? ' (server dry run)' : ''}\n`);
    // Everything after the CRD may refer to it; wait until the API server serves it.
    if (obj.kind === 'CustomResourceDefinition' && !server)
      await waitEstablished(kube, obj.metadata.name, io);
  }
  if (server || !opts.wait) return;
  const image = agentDaemonSetOf(manifests).spec.template.spec.containers[0].image;
  try {
    await waitRollout(kube, image, opts.timeoutMs, io);
  } catch (e) {
    if (!(e instanceof HardenError)) throw e;
    const undone = await rollBack(kube, manifests, before, io);
    throw new HardenError(e.message, [e.hint, undone].filter(Boolean).join('\n'));
  }
}

const agentDaemonSetOf = (manifests: Manifest[]) =>
  manifests.find((m) => m.kind === 'DaemonSet') as unknown as DaemonSet;

/**
 * A failed rollout leaves nothing half-installed: objects this deploy created are deleted (newest
 * first), and an agent DaemonSet that existed before gets its previous spec back, so the nodes keep
 * (or return to) the agent that worked. Says what it did, for the error's hint.
 */
async function rollBack(
  kube: Kube,
  manifests: Manifest[],
  before: Map<Manifest, unknown>,
  io: Io,
): Promise<string> {
  const removed: string[] = [];
  let restored = '';
  for (const obj of [...manifests].reverse()) {
    const previous = before.get(obj) as DaemonSet | undefined;
    if (!previous) {
      await kube
        .request('DELETE', objectPath(obj), { query: { propagationPolicy: 'Background' } })
        .catch((e: unknown) => {
          if (!(e instanceof ApiError && e.statusCode === 404)) throw e;
        });
      removed.push(objectName(obj));
    } else if (obj.kind === 'DaemonSet') {
      const { name, namespace, labels, annotations } = previous.metadata;
      await kube.apply(objectPath(obj), {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        metadata: { name, namespace, labels, annotations },
        spec: previous.spec,
      });
      restored = previous.spec.template.spec.containers.map((c) => c.image).join(', ');
    }
  }
  io.err(
    restored
      ? `rolled back: the agent DaemonSet runs its previous image again (${restored})`
      : `rolled back: removed what this deploy created (${removed.length} objects)`,
  );
  return restored
    ? `The agent DaemonSet was rolled back to its previous image (${restored}).`
    : 'Everything this deploy created was removed again; nothing is left installed.';
}

/** A just-undeployed agent namespace is still terminating; nothing can be created in it until it is gone. */
async function waitNamespaceGone(kube: Kube, io: Io) {
  const path = resourcePath(R.namespaces, { name: AGENT_NAMESPACE });
  await waitUntil(
    async () => {
      const ns = await kube.getOptional<{ metadata: { deletionTimestamp?: string } }>(path);
      const terminating = Boolean(ns?.metadata.deletionTimestamp);
      // Only a namespace that is really going away is worth a line (a new cluster has none).
      return {
        done: !terminating,
        progress: terminating ? `waiting for namespace ${AGENT_NAMESPACE} to finish terminating` : '',
      };
    },
    {
      timeoutMs: 120_000,
      onProgress: (l) => l && io.progress(l),
      onTimeout: () =>
        new HardenError(
          `namespace ${AGENT_NAMESPACE} is still terminating after 2m (context "${kube.ctx.context}")`,
          `Check what holds it: kubectl get namespace ${AGENT_NAMESPACE} -o yaml`,
        ),
    },
  );
  io.done();
}

async function waitEstablished(kube: Kube, name: string, io: Io) {
  await waitUntil(
    async () => {
      const crd = await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
        resourcePath(R.crds, { name }),
      );
      const done =
        crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
      return { done, progress: `waiting for CRD ${name} to be established` };
    },
    {
      timeoutMs: 30_000,
      intervalMs: 250,
      onProgress: (l) => io.progress(l),
      onTimeout: () =>
        new HardenError(`CRD ${name} was not established within 30s (context "${kube.ctx.context}")`),
    },
  );
  io.done();
}

/** kubelet's reasons that an image will not come by waiting (it already retried, or never will). */
const PULL_FAILURES = new Set(['ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);

/** Agent pods of this image whose container kubelet cannot pull: "pod on node: reason (message)". */
function pullFailures(pods: Pod[], image: string): string[] {
  return pods.flatMap((p) =>
    (p.status?.containerStatuses ?? [])
      .filter((c) => PULL_FAILURES.has(c.state?.waiting?.reason ?? ''))
      .filter(() => p.spec.containers.some((c) => c.image === image))
      .map(
        (c) =>
          `${p.metadata.name} on node ${p.spec.nodeName ?? '?'}: ${c.state?.waiting?.reason}${c.state?.waiting?.message ? ` (${c.state.waiting.message})` : ''}`,
      ),
  );
}

async function waitRollout(kube: Kube, image: string, timeoutMs: number, io: Io) {
  const dsPath = resourcePath(R.daemonsets, { namespace: AGENT_NAMESPACE, name: AGENT_NAME });
  const pullFailed = (failures: string[]) =>
    new HardenError(
      `the agent image ${image} cannot be pulled: ${failures.join('; ')} (context "${kube.ctx.context}")`,
      'Check the --image reference and that every node can reach its registry (and pull secrets).',
    );
  await waitUntil(
    async () => {
      const ds = await kube.get<DaemonSet>(dsPath);
      const desired = ds.status?.desiredNumberScheduled ?? 0;
      const ready = ds.status?.numberReady ?? 0;
      const updated = ds.status?.updatedNumberScheduled ?? 0;
      const observed = (ds.status?.observedGeneration ?? 0) >= (ds.metadata.generation ?? 0);
      const done = observed && desired > 0 && ready >= desired && updated >= desired;
      if (!done) {
        const failures = pullFailures(await listAgentPods(kube), image);
        if (failures.length) {
          io.done();
          throw pullFailed(failures);
        }
      }
      return { done, progress: `agents ready ${ready}/${desired}` };
    },
    {
      timeoutMs,
      onProgress: (l) => io.progress(l),
      onTimeout: (last) => {
        io.done();
        return new HardenError(
          `the agent rollout did not finish in time (${last?.progress ?? 'no status'}; context "${kube.ctx.context}")`,
          `Inspect it with: kubectl -n ${AGENT_NAMESPACE} get pods -l ${AGENT_SELECTOR} -o wide; rerun with --timeout or --wait=false.`,
        );
      },
    },
  );
  io.done();
  const pods = await listAgentPods(kube);
  io.err(`agent ready on ${pods.filter(podReady).length} node(s)`);
}

export async function runUndeploy(
  opts: UndeployOptions,
  { kube, io }: Pick<Deps, 'kube' | 'io'>,
): Promise<void> {
  const active = await activeSessions(kube);
  if (active.length && !opts.force) {
    const names = active.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).join(', ');
    throw new HardenError(
      `${active.length} trace session(s) still active (${names}; context "${kube.ctx.context}")`,
      'Stop them first (kubectl harden seccomp stop ID), or pass --force to remove them with the agent.',
    );
  }
  const profiles = await installedProfiles(kube);
  if (profiles.length && !opts.force)
    throw new HardenError(
      `${profiles.length} seccomp profile(s) installed on the nodes (${profiles.join(', ')}; context "${kube.ctx.context}")`,
      'Uninstall them first (kubectl harden seccomp uninstall NAME -n NAMESPACE), or pass --force: their files then stay on the nodes, where pods that use them still start.',
    );
  // Reverse order: the agent goes first, the CRD (and every session with it) last.
  const manifests = deployManifests().reverse();
  const deleted: Manifest[] = [];
  for (const obj of manifests) {
    try {
      await kube.request('DELETE', objectPath(obj), { query: { propagationPolicy: 'Background' } });
      io.out(`${objectName(obj)} deleted\n`);
      deleted.push(obj);
    } catch (e) {
      if (!(e instanceof ApiError && e.statusCode === 404)) throw e;
    }
  }
  if (!deleted.length)
    io.err(`nothing to remove: kubectl-harden is not deployed (context "${kube.ctx.context}")`);
  if (!opts.wait) return;
  await waitUntil(
    async () => {
      const left: string[] = [];
      for (const obj of deleted) if (await kube.getOptional(objectPath(obj))) left.push(objectName(obj));
      return {
        done: left.length === 0,
        progress: left.length ? `waiting for deletion: ${left.join(', ')}` : '',
        value: left,
      };
    },
    {
      timeoutMs: opts.timeoutMs,
      // Nothing left to wait for says nothing (no empty "waiting for deletion:" line).
      onProgress: (l) => l && io.progress(l),
      onTimeout: (last) =>
        new HardenError(
          `not everything was deleted in time (${last?.progress ?? ''}; context "${kube.ctx.context}")`,
          `Check for finalizers: kubectl get namespace ${AGENT_NAMESPACE} -o yaml`,
        ),
    },
  );
  io.done();
}

/** Installed seccomp profiles (namespace/name), across namespaces; none when the CRD is absent. */
async function installedProfiles(kube: Kube): Promise<string[]> {
  try {
    const list = await kube.get<List<KubeObject>>(resourcePath(R.seccompprofileinstalls));
    return list.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`);
  } catch (e) {
    if (e instanceof ApiError && e.statusCode === 404) return [];
    throw e;
  }
}
