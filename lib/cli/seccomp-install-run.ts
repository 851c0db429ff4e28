/**
 * `seccomp install | uninstall | installed`: a profile becomes a SeccompProfileInstall in the
 * namespace (RBAC there decides who may), every node's agent writes it into kubelet's seccomp root
 * and reports its digest; install waits until every node with a ready agent holds it. A failed
 * install leaves the cluster as it was: a new object is removed, an updated one gets its spec back.
 */
import { open } from 'node:fs/promises';
import { HardenError } from '../errors';
import { ApiError, type Kube } from '../kube/client';
import { podReady, type List, type Node } from '../kube/objects';
import { R, resourcePath } from '../kube/paths';
import { waitUntil } from '../kube/wait';
import {
  checkArch,
  checkName,
  digestOf,
  INSTALL_KIND,
  INSTALL_PLURAL,
  InstallError,
  installText,
  localhostProfile,
  MAX_PROFILE_BYTES,
  parseProfile,
  type InstallMode,
  type NodeInstall,
  type SeccompProfileInstall,
} from '../seccomp/install';
import { ENFORCING_ANNOTATION, enforcingOf } from '../seccomp/audit';
import { listAgentPods } from '../session/agents';
import { API_VERSION, GROUP } from '../session/types';
import type { Deps } from './context';
import { printObject, renderTable } from './output';
import { age } from './session-list';

export interface InstallOptions {
  /** A file path, or '-' for stdin; or the profile's text itself (from `seccomp stop --install`). */
  file?: string;
  text?: string;
  name: string;
  audit: boolean;
  timeoutMs: number;
  /** The caller puts the profile in force itself (apply): no hint on how to. */
  noHint?: boolean;
}

const installPath = (namespace: string, name?: string) =>
  resourcePath(R.seccompprofileinstalls, { namespace, name });

const where = (kube: Kube) => `namespace "${kube.namespace}" (context "${kube.ctx.context}")`;

/** Reads at most one byte past the bound, so a 10 MB file is refused without being read whole. */
async function readBounded(file: string): Promise<string> {
  const handle =
    file === '-'
      ? undefined
      : await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
          throw new HardenError(`cannot read ${file}: ${e.code ?? e.message}`);
        });
  const chunks: Buffer[] = [];
  let size = 0;
  const stream = handle ? handle.createReadStream({ end: MAX_PROFILE_BYTES }) : process.stdin;
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size > MAX_PROFILE_BYTES) break;
  }
  await handle?.close();
  if (size > MAX_PROFILE_BYTES)
    throw new HardenError(
      `${file === '-' ? 'stdin' : file} is larger than ${MAX_PROFILE_BYTES} bytes: too large for a seccomp profile (kubelet's are a few KiB); nothing was installed`,
    );
  return Buffer.concat(chunks).toString('utf8');
}

/** The install's checks, as a HardenError naming what was given. */
function checked<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof InstallError) throw new HardenError(`${what}: ${e.message}; nothing was installed`);
    throw e;
  }
}

/** The nodes with a ready agent: the ones that must hold the profile. */
async function agentNodes(kube: Kube): Promise<string[]> {
  const pods = await listAgentPods(kube).catch((e) => {
    if (e instanceof ApiError && e.statusCode === 403) return undefined;
    throw e;
  });
  if (!pods)
    throw new HardenError(
      `cannot list the agent's pods (namespace harden-system, context "${kube.ctx.context}"): forbidden`,
      'Installing waits for every node: it needs to list pods in harden-system.',
    );
  return [
    ...new Set(pods.filter(podReady).flatMap((p) => (p.spec?.nodeName ? [p.spec.nodeName] : []))),
  ].sort();
}

/** Refuses before anything is written when a node's architecture is not in the profile. */
async function checkNodeArches(kube: Kube, nodes: string[], profile: Record<string, unknown>): Promise<void> {
  let list: List<Node>;
  try {
    list = await kube.get<List<Node>>(resourcePath(R.nodes));
  } catch (e) {
    if (e instanceof ApiError && e.statusCode === 403) return; // the agents check it again
    throw e;
  }
  const wrong: string[] = [];
  for (const n of list.items) {
    const arch = n.status?.nodeInfo?.architecture;
    if (!nodes.includes(n.metadata.name) || !arch) continue;
    try {
      checkArch(profile, arch);
    } catch (e) {
      wrong.push(`${n.metadata.name}: ${(e as Error).message}`);
    }
  }
  if (wrong.length)
    throw new HardenError(
      `the profile cannot be installed on every node: ${wrong.join('; ')}; nothing was installed`,
      'Record the profile on a node of that architecture, or add it to architectures.',
    );
}

const entryFor = (o: SeccompProfileInstall | undefined, node: string): NodeInstall | undefined =>
  o?.status?.nodes?.find(
    (n) =>
      n.node === node &&
      (n.observedGeneration === undefined ||
        o.metadata.generation === undefined ||
        n.observedGeneration === o.metadata.generation),
  );

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

export async function runInstall(opts: InstallOptions, { kube, io, interrupt }: Deps): Promise<void> {
  const ns = kube.namespace;
  const name = checked('--name', () => checkName(opts.name));
  checked('namespace', () => checkName(ns, 'namespace'));
  const source = opts.file ?? 'the profile';
  const raw = opts.text ?? (await readBounded(opts.file ?? '-'));
  const profile = checked(`${source} is not a seccomp profile Kubernetes can use`, () => parseProfile(raw));
  const mode: InstallMode = opts.audit ? 'Audit' : 'Enforce';
  const text = installText(profile, mode);
  const digest = digestOf(text);
  checked(source, () => parseProfile(text));

  const crd = await kube
    .getOptional(resourcePath(R.crds, { name: `${INSTALL_PLURAL}.${GROUP}` }))
    .catch((e) => (e instanceof ApiError && e.statusCode === 403 ? true : Promise.reject(e)));
  if (!crd)
    throw new HardenError(
      `kubectl-harden's agent in context "${kube.ctx.context}" cannot install profiles (no SeccompProfileInstall CRD)`,
      'Run: kubectl harden deploy',
    );
  const nodes = await agentNodes(kube);
  if (!nodes.length)
    throw new HardenError(
      `no node has a ready agent in context "${kube.ctx.context}"; nothing was installed`,
      'See kubectl harden status.',
    );
  await checkNodeArches(kube, nodes, profile);

  const path = installPath(ns, name);
  const before = await kube.getOptional<SeccompProfileInstall>(path);
  const started = Date.now();
  await kube.apply(path, {
    apiVersion: API_VERSION,
    kind: INSTALL_KIND,
    metadata: {
      name,
      namespace: ns,
      ...enforcingAnnotation(mode === 'Audit' ? JSON.stringify(enforcingOf(profile)) : undefined),
    },
    spec: { profile: text, digest, mode },
  });
  const rel = localhostProfile(ns, name);
  const { signal, dispose } = interrupt();
  let failed: string[] = [];
  try {
    await waitUntil<true>(
      async () => {
        const o = await kube.getOptional<SeccompProfileInstall>(path);
        const entries = nodes.map((n) => entryFor(o, n));
        failed = entries.flatMap((e) => (e?.state === 'Failed' ? [`${e.node}: ${e.message}`] : []));
        const held = entries.filter((e) => e?.state === 'Installed' && e.digest === digest).length;
        return {
          done: held === nodes.length || failed.length > 0,
          progress: `installing ${mode === 'Audit' ? 'the audit variant of ' : ''}${rel}: ${held}/${nodes.length} nodes hold ${short(digest)}`,
          value: true,
        };
      },
      {
        timeoutMs: opts.timeoutMs,
        onProgress: (l) => io.progress(l),
        signal,
        onTimeout: () => new HardenError('timeout'),
      },
    );
  } catch (e) {
    io.done();
    const missing = await missingNodes(kube, path, nodes, digest);
    await undo(kube, path, before);
    if (e instanceof HardenError && e.message === 'timeout')
      throw new HardenError(
        `seccomp profile "${name}" in ${where(kube)} was not installed in time: ${missing.join(', ')} did not report ${short(digest)}; ${restored(before)}`,
        'See what each agent says with: kubectl harden status',
      );
    throw e;
  } finally {
    dispose();
  }
  io.done();
  if (failed.length) {
    await undo(kube, path, before);
    throw new HardenError(
      `seccomp profile "${name}" in ${where(kube)} was refused: ${failed.join('; ')}; ${restored(before)}`,
    );
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  io.out(`${rel}\n`);
  const installed = `${mode === 'Audit' ? 'audit variant (defaultAction SCMP_ACT_LOG) ' : ''}installed on ${nodes.length} node${nodes.length > 1 ? 's' : ''} in ${secs}s`;
  if (opts.noHint) {
    io.err(`${rel}: ${installed}`);
    return;
  }
  io.err(
    `${installed}; put it in force with:\n` +
      `  kubectl harden seccomp apply deployment/NAME --profile ${name} -n ${ns}\n` +
      `or in a pod spec: securityContext.seccompProfile: {type: Localhost, localhostProfile: ${rel}}`,
  );
}

async function missingNodes(kube: Kube, path: string, nodes: string[], digest: string): Promise<string[]> {
  const o = await kube.getOptional<SeccompProfileInstall>(path).catch(() => undefined);
  return nodes.filter((n) => entryFor(o, n)?.digest !== digest);
}

/**
 * An audit variant's install keeps what its enforcing profile decides, which the variant no longer
 * says (it logs wherever that profile stops a syscall): `seccomp audit` reads it. Applied without
 * it (an enforcing install), server-side apply removes it.
 */
const enforcingAnnotation = (kept: string | undefined) =>
  kept === undefined ? {} : { annotations: { [ENFORCING_ANNOTATION]: kept } };

const restored = (before: SeccompProfileInstall | undefined) =>
  before ? 'the profile installed before was put back' : 'nothing stays installed';

/** Back to how it was: a new object goes (the agents remove its files), an updated one gets its old spec. */
async function undo(kube: Kube, path: string, before: SeccompProfileInstall | undefined): Promise<void> {
  if (!before) {
    await kube.request('DELETE', path).catch(() => undefined);
    return;
  }
  await kube.apply(path, {
    apiVersion: API_VERSION,
    kind: INSTALL_KIND,
    metadata: {
      name: before.metadata.name,
      namespace: before.metadata.namespace,
      ...enforcingAnnotation(before.metadata.annotations?.[ENFORCING_ANNOTATION]),
    },
    spec: before.spec,
  });
}

/** Pods and workloads of the namespace that name the profile's Localhost path. */
async function usersOf(kube: Kube, rel: string): Promise<string[]> {
  const names: string[] = [];
  const uses = (spec: unknown) =>
    JSON.stringify(spec ?? {}).includes(`"localhostProfile":${JSON.stringify(rel)}`);
  for (const [ref, kind] of [
    [R.deployments, 'deployment'],
    [R.statefulsets, 'statefulset'],
    [R.daemonsets, 'daemonset'],
  ] as const) {
    const list = await kube
      .get<List<{ metadata: { name: string }; spec?: { template?: unknown } }>>(
        resourcePath(ref, { namespace: kube.namespace }),
      )
      .catch(() => ({ items: [] }));
    for (const o of list.items) if (uses(o.spec?.template)) names.push(`${kind}/${o.metadata.name}`);
  }
  const pods = await kube
    .get<List<{ metadata: { name: string; ownerReferences?: unknown[] }; spec?: unknown }>>(
      resourcePath(R.pods, { namespace: kube.namespace }),
    )
    .catch(() => ({ items: [] }));
  for (const p of pods.items)
    if (!p.metadata.ownerReferences?.length && uses(p.spec)) names.push(`pod/${p.metadata.name}`);
  return names;
}

export async function runUninstall(
  opts: { name: string; force: boolean },
  { kube, io }: Pick<Deps, 'kube' | 'io'>,
): Promise<void> {
  const name = checked('name', () => checkName(opts.name));
  const path = installPath(kube.namespace, name);
  const o = await kube.getOptional<SeccompProfileInstall>(path);
  if (!o)
    throw new HardenError(
      `no seccomp profile "${name}" is installed in ${where(kube)}`,
      `List them with: kubectl harden seccomp installed -n ${kube.namespace}`,
    );
  const rel = localhostProfile(kube.namespace, name);
  const users = await usersOf(kube, rel);
  if (users.length && !opts.force)
    throw new HardenError(
      `seccomp profile "${name}" in ${where(kube)} is in use by ${users.join(', ')}: their pods could not start again without it; nothing was removed`,
      'Remove it from them first, or uninstall anyway with --force.',
    );
  await kube.request('DELETE', path);
  io.out(`seccompprofileinstall.harden.dev "${name}" deleted\n`);
  io.err(`every agent removes ${rel} from its node`);
}

export async function runInstalled(
  opts: { allNamespaces: boolean; output: 'table' | 'json' | 'yaml' },
  { kube, io }: Pick<Deps, 'kube' | 'io'>,
): Promise<void> {
  const list = await kube.get<List<SeccompProfileInstall>>(
    resourcePath(R.seccompprofileinstalls, { namespace: opts.allNamespaces ? undefined : kube.namespace }),
  );
  const items = [...list.items].sort((a, b) =>
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
  );
  if (opts.output !== 'table') {
    io.out(printObject({ apiVersion: 'v1', kind: 'List', items }, opts.output));
    return;
  }
  if (!items.length) {
    io.err(
      `No seccomp profiles installed in ${opts.allNamespaces ? 'any namespace' : `namespace "${kube.namespace}"`}.`,
    );
    return;
  }
  const now = Date.now();
  const rows: (string | number)[][] = [];
  for (const o of items) {
    const nodes = o.status?.nodes ?? [];
    const base = [o.metadata.name, o.metadata.namespace, o.spec.mode, short(o.spec.digest)];
    if (!nodes.length) rows.push([...base, '<none yet>', '', '', age(o.metadata.creationTimestamp, now)]);
    for (const n of [...nodes].sort((a, b) => a.node.localeCompare(b.node))) {
      const current = entryFor(o, n.node) && (n.state === 'Failed' || n.digest === o.spec.digest);
      const state = current ? n.state : 'Outdated';
      rows.push([...base, n.node, state, n.message ?? '', age(o.metadata.creationTimestamp, now)]);
    }
  }
  io.out(
    renderTable(['name', 'namespace', 'mode', 'digest', 'node', 'state', 'message', 'age'], rows, io.colour),
  );
}
