/**
 * An in-memory API server behind the Kube interface, and a Runtime around it, so commands run
 * through the real parser with no cluster: objects by path, lists by collection and label
 * selector, merge patches, 404/409 like the API server. Hooks stand in for the agents.
 */
import { ApiError, type Kube, type RequestOptions, type WatchEvent } from '../../lib/kube/client';
import type { KubeObject, Pod } from '../../lib/kube/objects';
import { R, resourcePath, type ResourceRef } from '../../lib/kube/paths';
import type { Interrupt, Io, Runtime } from '../../lib/cli/context';
import type { ConnectionArgs } from '../../lib/cli/flags';
import { main } from '../../lib/cli/main';
import { parseSelector, selectorMatches } from '../../lib/labels';
import { AGENT_LABELS, AGENT_NAMESPACE } from '../../lib/session/agent-names';
import { assembleSession, type TraceRecord } from '../../lib/session/trace-records';
import type { NodeRecord, TraceSession } from '../../lib/session/types';

type Obj = KubeObject & Record<string, unknown>;
export type Hook = (method: string, path: string, obj: Obj | undefined) => void;

const stripNamespace = (p: string) => p.replace(/\/namespaces\/[^/]+(?=\/)/, '');

function merge(into: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    const cur = into[k];
    if (
      v &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      cur &&
      typeof cur === 'object' &&
      !Array.isArray(cur)
    )
      merge(cur as Record<string, unknown>, v as Record<string, unknown>);
    else into[k] = v;
  }
}

interface Watcher {
  path: string;
  onEvent: (e: WatchEvent<unknown>) => void;
}

export class FakeCluster {
  readonly objects = new Map<string, Obj>();
  private readonly watchers = new Set<Watcher>();
  readonly requests: string[] = [];
  /** API path prefixes this server does not serve (an older Kubernetes): every request there is a 404. */
  readonly unserved = new Set<string>();
  private version = 1;
  /** Runs after every write (the path is the object's), e.g. to play an agent. */
  hook: Hook = () => undefined;
  /**
   * Whether status writes come back to watchers, as from a real API server: an agent sees its
   * own writes (and other nodes') through its watch. Off unless a test is about that.
   */
  echoStatus = false;
  /**
   * What agents wrote of sessions' status, in order, wherever it went: the session's own status,
   * or a node's TraceRecord (shown as its `nodes` entry).
   */
  readonly statusWrites: NonNullable<TraceSession['status']>[] = [];

  put(ref: ResourceRef, obj: KubeObject): void {
    const path = resourcePath(ref, { namespace: obj.metadata.namespace, name: obj.metadata.name });
    this.objects.set(path, structuredClone({ ...obj, metadata: { ...obj.metadata } }) as Obj);
  }

  /** A session as its readers see it: with its nodes' records in status.nodes. */
  session(namespace: string, name: string): TraceSession | undefined {
    const s = this.objects.get(resourcePath(R.tracesessions, { namespace, name })) as unknown as TraceSession;
    return s && assembleSession(s, this.records());
  }

  sessions(): TraceSession[] {
    return [...this.objects.entries()]
      .filter(([p]) => p.includes('/tracesessions/'))
      .map(([, o]) => assembleSession(o as unknown as TraceSession, this.records()));
  }

  private records(): TraceRecord[] {
    return [...this.objects.entries()]
      .filter(([p]) => p.includes('/tracerecords/'))
      .map(([, o]) => o as unknown as TraceRecord);
  }

  /** A Kube whose context namespace is `namespace`, as -n would make it. */
  kube(namespace: string): Kube {
    const ctx = {
      files: [],
      context: 'fake',
      cluster: 'fake-cluster',
      user: 'tester',
      server: 'https://fake.invalid',
      namespace,
      merged: {},
    };
    const request = async <T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> =>
      this.request(method, path, opts) as T;
    const fake = {
      ctx,
      namespace,
      request,
      get: <T>(path: string, query?: RequestOptions['query']) => request<T>('GET', path, { query }),
      getOptional: async <T>(path: string) => {
        try {
          return await request<T>('GET', path);
        } catch (e) {
          if (e instanceof ApiError && e.statusCode === 404) return undefined;
          throw e;
        }
      },
      apply: <T>(path: string, object: unknown) => request<T>('PATCH', path, { body: object }),
      mergePatch: <T>(path: string, patch: unknown) => request<T>('PATCH', path, { body: patch }),
      // Events for later writes to the collection; resolves when the watcher gives up.
      watch: <T>(path: string, _q: unknown, on: (e: WatchEvent<T>) => void, signal?: AbortSignal) =>
        new Promise<void>((resolve) => {
          const w: Watcher = { path, onEvent: on as Watcher['onEvent'] };
          this.watchers.add(w);
          signal?.addEventListener(
            'abort',
            () => {
              this.watchers.delete(w);
              resolve();
            },
            { once: true },
          );
        }),
    };
    return fake as unknown as Kube;
  }

  private watches(w: Watcher, key: string): boolean {
    const collection = key.slice(0, key.lastIndexOf('/'));
    return w.path === collection || w.path === stripNamespace(collection);
  }

  private emit(type: 'ADDED' | 'MODIFIED', key: string): void {
    const obj = this.objects.get(key);
    for (const w of this.watchers)
      if (obj && this.watches(w, key)) w.onEvent({ type, object: structuredClone(obj) });
  }

  private request(method: string, path: string, opts: RequestOptions): unknown {
    this.requests.push(`${method} ${path}`);
    const notFound = () => new ApiError(`${path} not found`, 404, { code: 404, reason: 'NotFound' });
    if ([...this.unserved].some((prefix) => path.startsWith(prefix))) throw notFound();
    const existing = this.objects.get(path);
    switch (method) {
      case 'GET': {
        if (existing) return structuredClone(existing);
        if (!isCollection(path)) throw notFound();
        const items = [...this.objects.entries()]
          .filter(([p]) => {
            const collection = p.slice(0, p.lastIndexOf('/'));
            return collection === path || stripNamespace(collection) === path;
          })
          .map(([, o]) => o)
          .filter((o) => matchesSelector(o, opts.query?.labelSelector));
        return { metadata: { resourceVersion: String(this.version) }, items: structuredClone(items) };
      }
      case 'POST': {
        const body = structuredClone(opts.body) as Obj;
        const key = `${path}/${body.metadata.name}`;
        if (this.objects.has(key))
          throw new ApiError(`${key} exists`, 409, { code: 409, reason: 'AlreadyExists' });
        body.metadata.resourceVersion = String(++this.version);
        body.metadata.creationTimestamp = new Date().toISOString();
        body.metadata.uid ??= `uid-${this.version}`;
        this.objects.set(key, body);
        this.hook(method, key, body);
        this.emit('ADDED', key);
        return structuredClone(this.objects.get(key));
      }
      case 'PATCH': {
        const key = path.replace(/\/status$/, '');
        const applied = opts.body as Partial<Obj> | undefined;
        // Server-side apply of a whole object creates it; a status write or merge patch needs it.
        if (!this.objects.has(key) && key === path && applied?.kind && applied.metadata) {
          this.objects.set(key, {
            metadata: { name: applied.metadata.name, uid: `uid-${++this.version}` },
          } as Obj);
        }
        const obj = this.objects.get(key);
        if (!obj) throw notFound();
        if (Array.isArray(opts.body)) {
          // A JSON patch (application/json-patch+json): replace, add and remove by pointer.
          for (const op of opts.body as { op: string; path: string; value?: unknown }[]) jsonPatch(obj, op);
          obj.metadata.resourceVersion = String(++this.version);
          this.hook(method, key, obj);
          this.emit('MODIFIED', key);
          return structuredClone(obj);
        }
        const body = structuredClone(opts.body) as Record<string, unknown> & { status?: Obj['status'] };
        const status = key !== path ? (body.status as TraceSession['status']) : undefined;
        const before = (obj.status as TraceSession['status'])?.nodes;
        merge(obj as Record<string, unknown>, body);
        if (path.includes('/tracerecords/')) {
          // One manager applies the whole record: what it left out is gone, not merged.
          const { record } = body as unknown as TraceRecord;
          obj.record = structuredClone(record);
          this.statusWrites.push({ nodes: [structuredClone(record)] });
        }
        if (status) {
          this.statusWrites.push(structuredClone(status));
          // status.nodes is a list-map keyed by node: each agent's apply replaces its own entry only.
          const nodes = new Map((before ?? []).map((n) => [n.node, n]));
          for (const n of status.nodes ?? []) nodes.set(n.node, n);
          (obj.status as NonNullable<TraceSession['status']>).nodes = [...nodes.values()];
        }
        obj.metadata.resourceVersion = String(++this.version);
        this.hook(method, key, obj);
        if (key === path || this.echoStatus) this.emit('MODIFIED', key);
        return structuredClone(this.objects.get(key));
      }
      case 'DELETE': {
        if (!existing) throw notFound();
        this.objects.delete(path);
        this.hook(method, path, undefined);
        for (const w of this.watchers)
          if (this.watches(w, path)) w.onEvent({ type: 'DELETED', object: existing });
        return {};
      }
      default:
        throw new Error(`fake API server: ${method} not supported`);
    }
  }
}

function jsonPatch(obj: Obj, op: { op: string; path: string; value?: unknown }): void {
  const keys = op.path
    .split('/')
    .slice(1)
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = keys.pop() as string;
  let at = obj as Record<string, unknown>;
  for (const k of keys) at = at[k] as Record<string, unknown>;
  if (op.op === 'remove') {
    if (!(last in at)) throw new ApiError(`${op.path} not found`, 422, { code: 422 });
    delete at[last];
  } else at[last] = structuredClone(op.value);
}

const COLLECTIONS = new Set(Object.values(R).map((r) => r.resource));
const isCollection = (path: string) => COLLECTIONS.has(path.slice(path.lastIndexOf('/') + 1));

function matchesSelector(o: Obj, selector: unknown): boolean {
  if (typeof selector !== 'string' || !selector) return true;
  const parsed = parseSelector(selector);
  if (typeof parsed === 'string') throw new ApiError(`bad labelSelector: ${parsed}`, 400, { code: 400 });
  return selectorMatches(parsed, o.metadata.labels);
}

/** A cluster where the agent is deployed and ready on node-1, with a running pod web/web-1 there. */
export function clusterWithAgent(): FakeCluster {
  const c = new FakeCluster();
  c.put(R.crds, { metadata: { name: 'tracesessions.harden.dev' } });
  for (const ns of ['web', 'kube-system', AGENT_NAMESPACE]) c.put(R.namespaces, { metadata: { name: ns } });
  const ready = { conditions: [{ type: 'Ready', status: 'True' }] };
  c.put(R.pods, {
    metadata: { name: 'harden-agent-x', namespace: AGENT_NAMESPACE, labels: { ...AGENT_LABELS } },
    spec: { nodeName: 'node-1', containers: [{ name: 'agent' }] },
    status: { phase: 'Running', ...ready },
  } as Pod);
  c.put(R.pods, {
    metadata: { name: 'web-1', namespace: 'web', uid: 'uid-web-1', labels: { app: 'web' } },
    spec: { nodeName: 'node-1', containers: [{ name: 'nginx' }] },
    status: { phase: 'Running', podIP: '10.244.0.5', ...ready },
  } as Pod);
  return c;
}

/** Ctrl-C on demand: aborts every interrupt signal not yet disposed, as SIGINT reaches every listener. */
export class FakeInterrupts {
  private readonly live = new Set<AbortController>();
  created = 0;

  interrupt = (): Interrupt => {
    const ac = new AbortController();
    this.live.add(ac);
    this.created++;
    return { signal: ac.signal, dispose: () => void this.live.delete(ac) };
  };

  ctrlC(): void {
    for (const ac of this.live) ac.abort();
  }

  /** Listeners still registered: a leak would swallow a later Ctrl-C. */
  get listening(): number {
    return this.live.size;
  }
}

export interface CliResult {
  code: number;
  out: string;
  err: string;
  /** How often the command connected to the cluster. */
  connects: number;
  /** The progress lines it showed (a terminal would overwrite them in place). */
  progress: string[];
}

/** Runs a command line through main() and the real parser, against the fake cluster. */
export async function runCli(
  args: string[],
  cluster: FakeCluster,
  interrupts = new FakeInterrupts(),
): Promise<CliResult> {
  let out = '';
  let err = '';
  let connects = 0;
  const progress: string[] = [];
  const io: Io = {
    out: (t) => void (out += t),
    err: (t) => void (err += t.endsWith('\n') ? t : `${t}\n`),
    progress: (t) => void progress.push(t),
    done: () => undefined,
    colour: false,
    verbosity: 0,
  };
  const runtime: Runtime = {
    connect: async (flags: ConnectionArgs) => {
      connects++;
      return cluster.kube(flags.namespace ?? 'default');
    },
    io: () => io,
    interrupt: interrupts.interrupt,
  };
  // Errors, usage and help are printed by main() and yargs themselves.
  const capture = (c: string | Uint8Array) => ((err += String(c)), true);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  const stdout = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  const log = jest
    .spyOn(console, 'log')
    .mockImplementation((...a: unknown[]) => void (out += `${a.join(' ')}\n`));
  const error = jest
    .spyOn(console, 'error')
    .mockImplementation((...a: unknown[]) => void (err += `${a.join(' ')}\n`));
  try {
    const code = await main(args, runtime);
    return { code, out, err, connects, progress };
  } finally {
    stderr.mockRestore();
    stdout.mockRestore();
    log.mockRestore();
    error.mockRestore();
  }
}

/** The entry the agent on node-1 writes for a session, with what it recorded. */
export function agentEntry(final: boolean, recorded: Partial<NodeRecord> = {}): NodeRecord {
  return {
    node: 'node-1',
    arch: 'amd64',
    agentVersion: 'test',
    lastFlush: '2025-01-01T00:00:00Z',
    final,
    // The node's own phase, from which the session's is derived (lib/session/phase.ts).
    phase: final ? 'Completed' : 'Tracing',
    containers: [],
    ...recorded,
  };
}
