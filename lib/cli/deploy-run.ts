import { HardenError } from '../errors';
import { processIo, type Io } from './context';
import type { DeployArgs, UndeployArgs } from './deploy';
import { outputFormat, toJson, toYamlDocuments } from './output';
import { parseDuration } from '../duration';
import { AGENT_NAME, AGENT_NAMESPACE, deployManifests } from '../deploy/manifests';
import { ApiError, Kube } from '../kube/client';
import { objectName, objectPath, R, resourcePath } from '../kube/paths';
import type { DaemonSet, List, Pod } from '../kube/objects';
import { podReady } from '../kube/objects';
import { waitUntil } from '../kube/wait';
import type { TraceSession } from '../session/types';

type Manifest = ReturnType<typeof deployManifests>[number];

export async function runDeploy(argv: DeployArgs): Promise<void> {
  const io = processIo(argv);
  const manifests = deployManifests({ image: argv.image });
  const dryRun = argv.dryRun ?? 'none';
  if (dryRun === 'client') {
    const format = outputFormat(argv.output, ['yaml', 'json'], 'yaml');
    io.out(
      format === 'json'
        ? toJson({ apiVersion: 'v1', kind: 'List', items: manifests })
        : toYamlDocuments(manifests),
    );
    return;
  }
  const kube = await Kube.connect(argv);
  const server = dryRun === 'server';
  await waitNamespaceGone(kube, io);
  for (const obj of manifests) {
    await kube.apply(objectPath(obj), obj, { dryRun: server });
    io.out(`${objectName(obj)} serverside-applied${server ? ' (server dry run)' : ''}\n`);
    // Everything after the CRD may refer to it; wait until the API server serves it.
    if (obj.kind === 'CustomResourceDefinition' && !server)
      await waitEstablished(kube, obj.metadata.name, io);
  }
  if (server || !argv.wait) return;
  await waitRollout(kube, parseDuration(argv.timeout) ?? 300_000, io);
}

/** A just-undeployed agent namespace is still terminating; nothing can be created in it until it is gone. */
async function waitNamespaceGone(kube: Kube, io: Io) {
  const path = resourcePath(R.namespaces, { name: AGENT_NAMESPACE });
  await waitUntil(
    async () => {
      const ns = await kube.getOptional<{ metadata: { deletionTimestamp?: string } }>(path);
      return {
        done: !ns?.metadata.deletionTimestamp,
        progress: `waiting for namespace ${AGENT_NAMESPACE} to finish terminating`,
      };
    },
    {
      timeoutMs: 120_000,
      onProgress: (l) => io.progress(l),
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

async function agentPods(kube: Kube): Promise<Pod[]> {
  const list = await kube.get<List<Pod>>(resourcePath(R.pods, { namespace: AGENT_NAMESPACE }), {
    labelSelector: `app.kubernetes.io/name=${AGENT_NAME}`,
  });
  return list.items;
}

async function waitRollout(kube: Kube, timeoutMs: number, io: Io) {
  const dsPath = resourcePath(R.daemonsets, { namespace: AGENT_NAMESPACE, name: AGENT_NAME });
  await waitUntil(
    async () => {
      const ds = await kube.get<DaemonSet>(dsPath);
      const desired = ds.status?.desiredNumberScheduled ?? 0;
      const ready = ds.status?.numberReady ?? 0;
      const updated = ds.status?.updatedNumberScheduled ?? 0;
      const observed = (ds.status?.observedGeneration ?? 0) >= (ds.metadata.generation ?? 0);
      const done = observed && desired > 0 && ready >= desired && updated >= desired;
      return { done, progress: `agents ready ${ready}/${desired}` };
    },
    {
      timeoutMs,
      onProgress: (l) => io.progress(l),
      onTimeout: (last) => {
        io.done();
        return new HardenError(
          `the agent rollout did not finish in time (${last?.progress ?? 'no status'}; context "${kube.ctx.context}")`,
          `Inspect it with: kubectl -n ${AGENT_NAMESPACE} get pods -l app.kubernetes.io/name=${AGENT_NAME} -o wide; rerun with --timeout or --wait=false.`,
        );
      },
    },
  );
  io.done();
  const pods = await agentPods(kube);
  io.err(`agent ready on ${pods.filter(podReady).length} node(s)`);
}

/** Sessions still tracing, across all namespaces; none when the CRD is absent. */
export async function activeSessions(kube: Kube): Promise<TraceSession[]> {
  try {
    const list = await kube.get<List<TraceSession>>(resourcePath(R.tracesessions));
    return list.items.filter((s) => s.spec.state === 'Running');
  } catch (e) {
    if (e instanceof ApiError && e.statusCode === 404) return [];
    throw e;
  }
}

export async function runUndeploy(argv: UndeployArgs): Promise<void> {
  const io = processIo(argv);
  const kube = await Kube.connect(argv);
  const active = await activeSessions(kube);
  if (active.length && !argv.force) {
    const names = active.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).join(', ');
    throw new HardenError(
      `${active.length} trace session(s) still active (${names}; context "${kube.ctx.context}")`,
      'Stop them first (kubectl harden seccomp stop ID), or pass --force to remove them with the agent.',
    );
  }
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
  if (!argv.wait) return;
  const timeoutMs = parseDuration(argv.timeout) ?? 120_000;
  await waitUntil(
    async () => {
      const left: string[] = [];
      for (const obj of deleted) if (await kube.getOptional(objectPath(obj))) left.push(objectName(obj));
      return { done: left.length === 0, progress: `waiting for deletion: ${left.join(', ')}`, value: left };
    },
    {
      timeoutMs,
      onProgress: (l) => io.progress(l),
      onTimeout: (last) =>
        new HardenError(
          `not everything was deleted in time (${last?.progress ?? ''}; context "${kube.ctx.context}")`,
          'Check for finalizers: kubectl get ns harden-system -o yaml',
        ),
    },
  );
  io.done();
}
