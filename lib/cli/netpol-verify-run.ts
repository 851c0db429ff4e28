import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import type { Io } from './context';
import { HardenError } from '../errors';
import { explain, noteGaps, openLog } from './flow-log-input';
import { printObject, renderTable } from './output';
import type { Kube } from '../kube/client';
import type { List } from '../kube/objects';
import { R, resourcePath } from '../kube/paths';
import { compileDocuments, PolicyError, type CompiledPolicies, type PolicyDocument } from '../netpol/policy';
import { PolicySet } from '../netpol/verify';
import {
  readConnections,
  verifyLog,
  type DeniedRow,
  type RecordedLog,
  type VerifyResult,
} from '../netpol/verify-log';

export interface NetpolVerifyOptions {
  /** The flow log's path, or - for stdin. */
  input: string;
  /** Policy files or directories; - for stdin. */
  files: string[];
  fromCluster: boolean;
  skipInvalid: boolean;
  output: 'table' | 'json' | 'yaml';
  /** -n: where a namespaceless policy lands. */
  namespace?: string;
}

export interface VerifyDeps {
  io: Io;
  stdin: NodeJS.ReadableStream;
  /** The user's context; connected only for --from-cluster. */
  kube: () => Promise<Pick<Kube, 'get' | 'ctx' | 'namespace'>>;
  /** The current context's namespace, read from the kubeconfig without connecting; undefined without one. */
  contextNamespace: () => string | undefined;
}

/**
 * `kubectl harden netpol verify`: the flows the policies would deny on stdout, notes and the summary
 * on stderr. Returns the exit code: 1 when anything would be denied, 0 when nothing would.
 */
export async function runNetpolVerify(argv: NetpolVerifyOptions, deps: VerifyDeps): Promise<number> {
  const { io } = deps;
  const format = argv.output;
  const files = argv.files;
  if (!files.length && !argv.fromCluster)
    throw new HardenError(
      'no policies to verify against',
      'Pass -f FILE (or a directory, or - for stdin) and/or --from-cluster.',
    );
  if (argv.input === '-' && files.includes('-'))
    throw new HardenError('--input - and -f - both read stdin; only one of them can');
  // The files first: a bad policy fails before a long log is read.
  const fileDocs = await Promise.all(files.map((f) => readPolicies(f, deps.stdin)));
  const log = await readLog(argv, deps);
  const kube = argv.fromCluster ? await deps.kube() : undefined;
  const clusterDocs = kube ? await clusterPolicies(kube, log, io) : [];
  // Without -n, a namespaceless policy lands where `kubectl apply -f` would put it.
  const defaultNamespace = argv.namespace ?? kube?.namespace ?? deps.contextNamespace() ?? 'default';
  // Cluster first: a file's policy of the same name replaces it, as applying the file would.
  const compiled = compile(clusterDocs, defaultNamespace);
  files.forEach((f, i) => {
    const fromFile = compile(fileDocs[i], defaultNamespace);
    // A -f that holds no policy verifies nothing; "0 denied" would read as a pass.
    if (!fromFile.policies.length)
      throw new HardenError(
        `no NetworkPolicy in ${f === '-' ? 'stdin' : f}: nothing to verify against`,
        fromFile.skipped.length
          ? `It holds only other objects (${fromFile.skipped.length}); pass the file (or directory) that \`netpol report\` wrote.`
          : 'Pass the file (or directory) that `netpol report` wrote: YAML or JSON NetworkPolicies.',
      );
    compiled.policies.push(...fromFile.policies);
    compiled.skipped.push(...fromFile.skipped);
    compiled.defaulted.push(...fromFile.defaulted);
  });
  for (const s of compiled.skipped) io.err(`note: skipped ${s}: not a networking.k8s.io/v1 NetworkPolicy`);
  if (compiled.defaulted.length)
    io.err(
      `note: NetworkPolicies without a namespace (${compiled.defaulted.join(', ')}) are taken to be in "${defaultNamespace}" (-n sets it)`,
    );
  const set = new PolicySet(compiled.policies);
  const result = verifyLog(log, set);
  if (format === 'table') {
    if (result.denied.length) io.out(table(result));
  } else io.out(printObject(resultObject(result, set.policies.length), format));
  for (const note of result.notes) io.err(`note: ${note}`);
  noteGaps(log.summary.gaps, io, 'connections made then are not in the log, so they were not verified');
  // Flows as the FLOWS column counts them (the log's counts), so the two always add up.
  io.err(
    `${result.observed} flows (${result.flows} log lines, ${result.connections} distinct connections) ` +
      `against ${set.policies.length} ${set.policies.length === 1 ? 'policy' : 'policies'}: ` +
      `${result.deniedFlows} flows in ${result.deniedConnections} connections denied` +
      (result.skipped ? `, ${result.skipped} lines skipped` : ''),
  );
  return result.deniedConnections ? 1 : 0;
}

function compile(docs: PolicyDocument[], defaultNamespace: string): CompiledPolicies {
  try {
    return compileDocuments(docs, defaultNamespace);
  } catch (e) {
    if (e instanceof PolicyError)
      throw new HardenError(
        `invalid ${e.message}`,
        'The API server would refuse it; fix it and verify again.',
      );
    throw e;
  }
}

async function readLog(argv: NetpolVerifyOptions, deps: VerifyDeps): Promise<RecordedLog> {
  const input = await openLog(argv.input, deps.stdin);
  try {
    return await readConnections(input, {
      skipInvalid: argv.skipInvalid,
      onProgress: (n) => deps.io.progress(`read ${n} lines…`),
    });
  } catch (e) {
    throw explain(e, argv.input);
  } finally {
    deps.io.done();
  }
}

const POLICY_FILE = /\.(ya?ml|json)$/i;

/** The documents of -f: a file, stdin, or a directory's YAML and JSON files (not recursive, as kubectl). */
async function readPolicies(path: string, stdin: NodeJS.ReadableStream): Promise<PolicyDocument[]> {
  if (path === '-') return parseDocuments(await readStream(stdin), 'stdin');
  let paths = [path];
  try {
    if ((await stat(path)).isDirectory())
      paths = (await readdir(path))
        .filter((f) => POLICY_FILE.test(f))
        .sort()
        .map((f) => join(path, f));
    const docs = await Promise.all(paths.map(async (p) => parseDocuments(await readFile(p, 'utf8'), p)));
    return docs.flat();
  } catch (e) {
    if (e instanceof HardenError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new HardenError(
      `cannot read policies "${err.path ?? path}": ${err.code === 'ENOENT' ? 'no such file' : err.message}`,
      'Pass -f with a YAML or JSON file of NetworkPolicies, a directory of them, or - for stdin.',
    );
  }
}

function parseDocuments(text: string, source: string): PolicyDocument[] {
  try {
    return loadAll(text).map((object, i, all) => ({
      source: all.length > 1 ? `${source} (document ${i + 1})` : source,
      object,
    }));
  } catch (e) {
    throw new HardenError(`${source} is not YAML or JSON: ${(e as Error).message.split('\n')[0]}`);
  }
}

async function readStream(s: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

/** The cluster's NetworkPolicies in every namespace the log names. */
async function clusterPolicies(
  kube: Pick<Kube, 'get' | 'ctx'>,
  log: RecordedLog,
  io: Io,
): Promise<PolicyDocument[]> {
  const { header } = log.summary;
  if (header.cluster !== kube.ctx.cluster)
    io.err(
      `note: the log was recorded on cluster "${header.cluster}" (context "${header.context}"); ` +
        `policies are read from cluster "${kube.ctx.cluster}" (context "${kube.ctx.context}")`,
    );
  const lists = await Promise.all(
    log.connections.namespaces().map(async (namespace) => {
      const list = await kube.get<List<unknown>>(resourcePath(R.networkpolicies, { namespace }));
      // A list's items carry no kind; they are NetworkPolicies by where they came from.
      return list.items.map((object) => ({
        source: `cluster "${kube.ctx.cluster}"`,
        fromCluster: true,
        object: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', ...(object as object) },
      }));
    }),
  );
  return lists.flat();
}

/** "egress: web/a; ingress of data/db-0 and 2 more: data/db": replicas isolated alike share a clause. */
function deniedByText(sides: DeniedRow['deniedBy']): string {
  const clauses = new Map<string, { head: string; policies: string; peers: string[] }>();
  for (const d of sides) {
    const policies = d.policies.join(',');
    const k = `${d.direction}|${d.peer === undefined}|${policies}`;
    const c = clauses.get(k) ?? { head: d.direction, policies, peers: [] };
    if (d.peer) c.peers.push(d.peer);
    clauses.set(k, c);
  }
  return [...clauses.values()]
    .map(({ head, policies, peers }) => {
      const of = peers.length
        ? ` of ${peers[0]}${peers.length > 1 ? ` and ${peers.length - 1} more` : ''}`
        : '';
      return `${head}${of}: ${policies}`;
    })
    .join('; ');
}

function table(r: VerifyResult): string {
  const rows: (string | number)[][] = [];
  for (const g of r.denied)
    for (const row of g.rows)
      rows.push([
        g.namespace,
        `${g.workload.kind}/${g.workload.name}`,
        g.direction,
        row.peer,
        `${row.protocol}/${row.port}`,
        row.count,
        deniedByText(row.deniedBy),
      ]);
  return renderTable(['namespace', 'workload', 'direction', 'peer', 'port', 'flows', 'denied by'], rows);
}

function resultObject(r: VerifyResult, policies: number): unknown {
  return {
    flows: r.observed,
    flowLines: r.flows,
    connections: r.connections,
    policies,
    deniedConnections: r.deniedConnections,
    deniedFlows: r.deniedFlows,
    denied: r.denied,
    notes: r.notes,
  };
}
