import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { load as loadYaml, dump as dumpYaml } from 'js-yaml';
import { HardenError } from '../errors';

/** The parts of a kubeconfig file we read; everything else is carried through untouched. */
export interface Named<T> {
  name: string;
  [key: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}
export interface KubeconfigFile {
  apiVersion?: string;
  kind?: string;
  'current-context'?: string;
  clusters?: Named<Record<string, unknown>>[];
  users?: Named<Record<string, unknown>>[];
  contexts?: Named<{ cluster?: string; user?: string; namespace?: string }>[];
}

export interface ConnectionFlags {
  kubeconfig?: string;
  context?: string;
  cluster?: string;
  user?: string;
  namespace?: string;
}

export interface ResolvedContext {
  /** Files that were read, in precedence order. */
  files: string[];
  context: string;
  cluster: string;
  user: string;
  server: string;
  /** -n, else the context's namespace, else "default". */
  namespace: string;
  /** The merged config, as one self-contained kubeconfig document. */
  merged: KubeconfigFile;
}

// Paths inside a kubeconfig are relative to the file that holds them, as kubectl reads them.
const PATH_FIELDS: Record<'cluster' | 'user', string[]> = {
  cluster: ['certificate-authority'],
  user: ['client-certificate', 'client-key', 'tokenFile'],
};

function absolute(base: string, path: unknown): unknown {
  return typeof path === 'string' && path && !isAbsolute(path) ? resolve(base, path) : path;
}

function absolutize(entry: Named<Record<string, unknown>>, kind: 'cluster' | 'user', file: string) {
  const body = entry[kind];
  if (!body) return entry;
  const base = dirname(file);
  const copy: Record<string, unknown> = { ...body };
  for (const f of PATH_FIELDS[kind]) copy[f] = absolute(base, copy[f]);
  // An exec plugin's command is a path too when it names a directory (bin/get-token); a bare name
  // (aws, kubelogin) is looked up on PATH, as kubectl does.
  const exec = copy.exec as { command?: unknown } | undefined;
  if (kind === 'user' && typeof exec?.command === 'string' && exec.command.includes(sep))
    copy.exec = { ...exec, command: absolute(base, exec.command) };
  return { ...entry, [kind]: copy };
}

function readFile(file: string): KubeconfigFile {
  let doc: unknown;
  try {
    doc = loadYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new HardenError(`cannot read kubeconfig ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc == null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new HardenError(`kubeconfig ${file} is not a kubeconfig (expected a YAML mapping)`);
  }
  return doc as KubeconfigFile;
}

/** Which files to read, following kubectl: --kubeconfig, else $KUBECONFIG (a list), else ~/.kube/config. */
export function kubeconfigFiles(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  home = homedir(),
): string[] {
  if (flag) {
    if (!existsSync(flag)) {
      throw new HardenError(
        `kubeconfig ${flag} (from --kubeconfig) does not exist`,
        'Pass the path of an existing kubeconfig file.',
      );
    }
    return [resolve(flag)];
  }
  if (env.KUBECONFIG) {
    const listed = env.KUBECONFIG.split(delimiter).filter(Boolean);
    const present = [...new Set(listed.map((f) => resolve(f)))].filter((f) => existsSync(f));
    if (present.length === 0) {
      throw new HardenError(
        `no kubeconfig found: none of the files in KUBECONFIG exist (${listed.join(delimiter)})`,
        'Point KUBECONFIG or --kubeconfig at a kubeconfig file for your cluster.',
      );
    }
    return present;
  }
  const file = join(home, '.kube', 'config');
  if (!existsSync(file)) {
    throw new HardenError(
      `no kubeconfig found: ${file} does not exist and neither KUBECONFIG nor --kubeconfig is set`,
      'Point KUBECONFIG or --kubeconfig at a kubeconfig file for your cluster (kubectl-harden never falls back to localhost:8080).',
    );
  }
  return [file];
}

/** kubectl's merge rule: for current-context and for each named entry, the first file that sets it wins. */
export function mergeKubeconfigs(files: string[]): KubeconfigFile {
  const merged: Required<Pick<KubeconfigFile, 'clusters' | 'users' | 'contexts'>> & KubeconfigFile = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [],
    users: [],
    contexts: [],
  };
  for (const file of files) {
    const doc = readFile(file);
    if (!merged['current-context'] && doc['current-context'])
      merged['current-context'] = doc['current-context'];
    for (const c of doc.clusters ?? []) {
      if (c?.name && !merged.clusters.some((x) => x.name === c.name))
        merged.clusters.push(absolutize(c, 'cluster', file));
    }
    for (const u of doc.users ?? []) {
      if (u?.name && !merged.users.some((x) => x.name === u.name))
        merged.users.push(absolutize(u, 'user', file));
    }
    for (const c of doc.contexts ?? []) {
      if (c?.name && !merged.contexts.some((x) => x.name === c.name)) merged.contexts.push(c);
    }
  }
  return merged;
}

export function resolveContext(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
  home?: string,
): ResolvedContext {
  const files = kubeconfigFiles(flags.kubeconfig, env, home);
  const merged = mergeKubeconfigs(files);
  const contexts = merged.contexts ?? [];
  const known = contexts.map((c) => c.name).sort();
  const knownList = known.length ? known.join(', ') : 'none';
  const name = flags.context || merged['current-context'];
  if (!name) {
    throw new HardenError(
      `no current context in ${files.join(delimiter)}`,
      `Pass --context (known contexts: ${knownList}) or run: kubectl config use-context NAME`,
    );
  }
  const ctx = contexts.find((c) => c.name === name);
  if (!ctx) {
    throw new HardenError(
      `context "${name}" not found in ${files.join(delimiter)}`,
      `Known contexts: ${knownList}.`,
    );
  }
  const clusterName = flags.cluster || ctx.context?.cluster || '';
  const userName = flags.user || ctx.context?.user || '';
  const where = files.join(delimiter);
  // Whence a name came: a flag, or the context, which is then what to fix.
  const whence = (flag: string | undefined, kind: string) =>
    flag ? `(from --${kind}, context "${name}")` : `of context "${name}"`;
  const cluster = (merged.clusters ?? []).find((c) => c.name === clusterName);
  if (!cluster) {
    throw new HardenError(
      `cluster "${clusterName}" ${whence(flags.cluster, 'cluster')} not found in ${where}`,
      `Known clusters: ${(merged.clusters ?? []).map((c) => c.name).join(', ') || 'none'}.`,
    );
  }
  const server = String(cluster.cluster?.server ?? '');
  if (!server)
    throw new HardenError(
      `cluster "${clusterName}" ${whence(flags.cluster, 'cluster')} has no server URL`,
      `Set clusters[${clusterName}].cluster.server in ${where}, or choose another --context.`,
    );
  if (userName && !(merged.users ?? []).some((u) => u.name === userName)) {
    const known = `Known users: ${(merged.users ?? []).map((u) => u.name).join(', ') || 'none'}.`;
    throw new HardenError(
      `user "${userName}" ${whence(flags.user, 'user')} not found in ${where}`,
      flags.user ? known : `${known} Fix the context, or pass --user.`,
    );
  }
  // The effective config names exactly one context, so the client cannot pick up anything else.
  const effective: KubeconfigFile = {
    ...merged,
    'current-context': name,
    contexts: [{ name, context: { ...ctx.context, cluster: clusterName, user: userName } }],
  };
  return {
    files,
    context: name,
    cluster: clusterName,
    user: userName,
    server,
    namespace: flags.namespace || ctx.context?.namespace || 'default',
    merged: effective,
  };
}

export function kubeconfigToYaml(doc: KubeconfigFile): string {
  return dumpYaml(doc, { noRefs: true });
}
