import * as http from 'node:http';
import * as https from 'node:https';
import { HardenError } from '../errors';
import { parseDuration } from '../duration';
import { LineSplitter } from '../lines';
import { describePath, verbOf } from './paths';
import { withTokenFile } from './token-file';
import { forClientNode } from './client-node-config';
import { kubeconfigToYaml, type ConnectionFlags, type ResolvedContext, resolveContext } from './kubeconfig';

export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
}

/** An API error with the HTTP status and the server's own Status object. */
export class ApiError extends HardenError {
  constructor(
    message: string,
    readonly statusCode: number,
    readonly status: KubeStatus | undefined,
    hint?: string,
  ) {
    super(message, hint);
    this.name = 'ApiError';
  }
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/**
 * Whether a failed request may be sent again. 429 and 503 are answered before the request is
 * processed (throttling; a new CRD's storage still initializing), so any method may be repeated.
 * 504 is a timeout after which a write may have been applied: only methods whose repetition is
 * harmless are repeated, never a POST (whose repetition would create again, or fail with 409).
 */
export function retryable(method: string, code: number): boolean {
  if (code === 429 || code === 503) return true;
  return code === 504 && method.toUpperCase() !== 'POST';
}

/** Our own --request-timeout firing, told apart from the system's ETIMEDOUT. */
class RequestTimeout extends Error {
  constructor() {
    super('request timed out');
    this.name = 'RequestTimeout';
  }
}

/** Fills a request's TLS options and auth headers; called per request, so rotating tokens stay fresh. */
export type Authenticate = (options: https.RequestOptions) => Promise<void>;

/** How every request gets the context's credentials: client-node's `clientNode`, and what it lacks. */
export function credentials(ctx: ResolvedContext, clientNode: Authenticate): Authenticate {
  return explainingCredentials(ctx, withTokenFile(ctx, clientNode));
}

/** `apply`, whose failures name the user, the context and the credential plugin (see credentialError). */
export function explainingCredentials(ctx: ResolvedContext, apply: Authenticate): Authenticate {
  return async (options) => {
    try {
      await apply(options);
    } catch (e) {
      throw credentialError(ctx, e);
    }
  };
}

/**
 * Why the user's credentials could not be had, naming the user, the context and (for an exec
 * plugin, e.g. an SSO login helper) the command: client-node's own error is a bare "spawn /x ENOENT"
 * or the plugin's stderr.
 */
function credentialError(ctx: ResolvedContext, e: unknown): HardenError {
  const err = e as NodeJS.ErrnoException;
  const who = `user "${ctx.user}" (context "${ctx.context}")`;
  const user = ctx.merged.users?.find((u) => u.name === ctx.user)?.user;
  const exec = user?.exec as { command?: string; args?: string[] } | undefined;
  const detail = (err?.message ?? String(e)).trim() || 'no message';
  if (!exec?.command)
    return new HardenError(
      `cannot load the credentials of ${who}: ${detail}`,
      `Check users[${ctx.user}] in ${ctx.files.join(', ')}.`,
    );
  const plugin = `the credential plugin "${exec.command}" of ${who}`;
  if (err?.code === 'ENOENT' || err?.code === 'EACCES')
    return new HardenError(
      `${plugin} cannot run: ${err.code === 'ENOENT' ? 'not found' : 'not executable'} (${err.code})`,
      `Install it (on PATH, as kubectl would find it) or fix users[${ctx.user}].user.exec.command in ${ctx.files.join(', ')}.`,
    );
  return new HardenError(
    `${plugin} failed: ${detail}`,
    `Run it by hand to see why: ${[exec.command, ...(exec.args ?? [])].join(' ')} (then log in again as it asks).`,
  );
}

/**
 * A small REST client over the kubeconfig's credentials. @kubernetes/client-node supplies the
 * authentication (tokens, client certificates, exec plugins); requests, watches and error messages
 * are ours, so every failure names the verb, resource, namespace and context.
 */
export class Kube {
  private constructor(
    readonly ctx: ResolvedContext,
    private readonly authenticate: Authenticate,
    private readonly base: URL,
    private readonly timeoutMs: number | undefined,
  ) {}

  static async connect(flags: ConnectionFlags & { requestTimeout?: string }): Promise<Kube> {
    const ctx = resolveContext(flags);
    // kubectl's --request-timeout: 0 (the default) is no limit.
    const ms = flags.requestTimeout === undefined ? 0 : parseDuration(flags.requestTimeout);
    return Kube.fromContext(ctx, ms || undefined);
  }

  static async fromContext(ctx: ResolvedContext, timeoutMs?: number): Promise<Kube> {
    const { KubeConfig } = await import('@kubernetes/client-node/dist/config.js');
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfigToYaml(forClientNode(ctx.merged)));
    return new Kube(
      ctx,
      credentials(ctx, (options) => kc.applyToHTTPSOptions(options)),
      new URL(ctx.server),
      timeoutMs,
    );
  }

  get namespace(): string {
    return this.ctx.namespace;
  }

  private where(): string {
    return `context "${this.ctx.context}"`;
  }

  private url(path: string, query?: RequestOptions['query']): URL {
    const u = new URL(this.base.toString().replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  private async send(
    method: string,
    path: string,
    opts: RequestOptions,
    watch: boolean,
  ): Promise<http.IncomingMessage> {
    const transport: https.RequestOptions = {};
    await this.authenticate(transport);
    const url = this.url(path, opts.query);
    const lib = url.protocol === 'http:' ? http : https;
    const body =
      opts.body === undefined
        ? undefined
        : typeof opts.body === 'string'
          ? opts.body
          : JSON.stringify(opts.body);
    const headers: http.OutgoingHttpHeaders = {
      ...(transport.headers as http.OutgoingHttpHeaders | undefined),
      Accept: 'application/json',
    };
    if (body !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    return new Promise((resolvePromise, reject) => {
      let response: http.IncomingMessage | undefined;
      const req = lib.request(
        url,
        {
          ...transport,
          method,
          headers,
          signal: opts.signal,
          timeout: watch ? undefined : this.timeoutMs,
        },
        (res) => resolvePromise((response = res)),
      );
      // The answer being read, if it started, fails with the timeout too (else: a bare "aborted").
      req.on('timeout', () => {
        const timeout = new RequestTimeout();
        response?.destroy(timeout);
        req.destroy(timeout);
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e.name === 'AbortError') return reject(e);
        if (e instanceof RequestTimeout) return reject(this.timedOut(method, path));
        reject(
          new HardenError(
            `cannot reach the API server at ${this.ctx.server} (${this.where()}): ${e.code ?? e.message}`,
            'Check that the cluster is running and that the kubeconfig points at it (kubectl cluster-info).',
          ),
        );
      });
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  /** A request as an error names it: `get pods "nginx" in namespace "web"`. */
  private describe(method: string, path: string, watch = false) {
    const { resource, namespace, name } = describePath(path);
    const verb = verbOf(method, path, watch);
    const what = `${verb} ${resource}${name ? ` "${name}"` : ''}${namespace ? ` in namespace "${namespace}"` : ''}`;
    return { verb, resource, what };
  }

  private timedOut(method: string, path: string): HardenError {
    return new HardenError(
      `${this.describe(method, path).what} (${this.where()}): no complete answer from ${this.ctx.server} within ${(this.timeoutMs ?? 0) / 1000}s (--request-timeout)`,
      'Try again with a longer --request-timeout (0: no limit).',
    );
  }

  /** An answer that broke off while it was read: the timeout, or the connection lost. */
  private cutOff(method: string, path: string, e: NodeJS.ErrnoException): HardenError {
    if (e instanceof RequestTimeout) return this.timedOut(method, path);
    return new HardenError(
      `${this.describe(method, path).what} (${this.where()}): the API server at ${this.ctx.server} broke off its answer (${e.code ?? e.message})`,
      'Try again; if it keeps happening, check the API server (kubectl cluster-info).',
    );
  }

  private async fail(
    method: string,
    path: string,
    res: http.IncomingMessage,
    text: string,
    watch = false,
  ): Promise<never> {
    let status: KubeStatus | undefined;
    try {
      status = JSON.parse(text) as KubeStatus;
    } catch {
      status = undefined;
    }
    const code = res.statusCode ?? 0;
    const { verb, resource, what } = this.describe(method, path, watch);
    if (code === 401) {
      throw new ApiError(
        `the API server at ${this.ctx.server} rejected the credentials of user "${this.ctx.user}" (${this.where()}): Unauthorized`,
        code,
        status,
        'Refresh your credentials (log in again) or choose another --context.',
      );
    }
    if (code === 403) {
      // RBAC denials say "cannot <verb> resource"; anything else (a terminating namespace, an
      // admission webhook) is the server's own reason, passed on as it is.
      const rbac = !status?.message || /cannot \S+ resource/.test(status.message);
      throw new ApiError(
        rbac
          ? `forbidden: user "${this.ctx.user}" cannot ${what} (${this.where()})`
          : `${what} was refused (${this.where()}): ${status?.message}`,
        code,
        status,
        rbac ? `Ask a cluster admin for RBAC that allows "${verb}" on ${resource}.` : undefined,
      );
    }
    throw new ApiError(
      `${what} failed (${this.where()}): ${status?.message ?? `HTTP ${code}`}`,
      code,
      status,
    );
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    // A few short retries for what retryable() says is safe; anything else is the answer.
    for (let attempt = 0; ; attempt++) {
      const res = await this.send(method, path, opts, false);
      let text: string;
      try {
        text = await readAll(res);
      } catch (e) {
        throw this.cutOff(method, path, e as NodeJS.ErrnoException);
      }
      const code = res.statusCode ?? 0;
      if (retryable(method, code) && attempt < 5 && !opts.signal?.aborted) {
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
        continue;
      }
      if (code >= 300) return this.fail(method, path, res, text);
      return (text ? JSON.parse(text) : undefined) as T;
    }
  }

  get<T>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  /** GET that answers undefined for 404 instead of throwing. */
  async getOptional<T>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (e) {
      if (e instanceof ApiError && e.statusCode === 404) return undefined;
      throw e;
    }
  }

  /** Server-side apply with our field manager. */
  apply<T>(
    path: string,
    object: unknown,
    opts: { dryRun?: boolean; force?: boolean; fieldManager?: string } = {},
  ): Promise<T> {
    return this.request<T>('PATCH', path, {
      body: object,
      contentType: 'application/apply-patch+yaml',
      query: {
        fieldManager: opts.fieldManager ?? 'kubectl-harden',
        force: opts.force ?? true,
        dryRun: opts.dryRun ? 'All' : undefined,
      },
    });
  }

  mergePatch<T>(path: string, patch: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body: patch, contentType: 'application/merge-patch+json' });
  }

  /**
   * Streams watch events until the signal aborts or the server closes the watch (then it resolves,
   * and the caller decides whether to re-list). Events are delivered one JSON line at a time.
   */
  async watch<T>(
    path: string,
    query: RequestOptions['query'],
    onEvent: (e: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    let res: http.IncomingMessage;
    try {
      res = await this.send(
        'GET',
        path,
        { query: { ...query, watch: 1, allowWatchBookmarks: true }, signal },
        true,
      );
    } catch (e) {
      if ((e as Error).name === 'AbortError') return;
      throw e;
    }
    if ((res.statusCode ?? 0) >= 300) return this.fail('GET', path, res, await readAll(res), true);
    try {
      await readWatchEvents(res, onEvent);
    } catch (e) {
      if ((e as Error).name === 'AbortError' || signal?.aborted) return;
      throw e;
    }
  }
}

/** A watch response body: one JSON event per line, decoded as UTF-8 across chunk boundaries. */
export async function readWatchEvents<T>(
  body: AsyncIterable<Buffer | string>,
  onEvent: (e: WatchEvent<T>) => void,
): Promise<void> {
  const lines = new LineSplitter();
  const deliver = (line: string) => {
    if (line.trim()) onEvent(JSON.parse(line) as WatchEvent<T>);
  };
  for await (const chunk of body) lines.push(chunk).forEach(deliver);
  lines.flush().forEach(deliver);
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolvePromise(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}
