import { ApiError, type Kube } from './client';
import type { KubeObject, List } from './objects';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface InformOptions {
  /** The server ends each watch after this long (its `timeoutSeconds`); default 60. */
  timeoutSeconds?: number;
  /**
   * Silence beyond timeoutSeconds plus this means the connection is half-open (the server hung,
   * or a NAT dropped the flow without a reset): the watch is abandoned and the view re-listed.
   */
  graceMs?: number;
  /** A list that takes longer than this is abandoned and retried; default 30 s. */
  listTimeoutMs?: number;
  /** Pause after a failure before trying again; default 1 s. */
  retryMs?: number;
}

/** The watch went silent for longer than the server may keep it open. */
export class WatchStalled extends Error {
  constructor(readonly silentMs: number) {
    super(`no word from the API server for ${Math.round(silentMs / 1000)} s; reconnecting`);
  }
}

/**
 * List, then watch from the list's resourceVersion: the classic informer loop, delivering every
 * object as ADDED/MODIFIED/DELETED until the signal aborts. A watch the server ends on time is
 * resumed from the last resourceVersion; an error, 410 Gone or a stalled watch starts over with
 * a list, which also reports what was deleted meanwhile. The first list is awaited, so callers
 * know the view is complete.
 */
export async function inform<T extends KubeObject>(
  kube: Kube,
  path: string,
  query: Record<string, string> | undefined,
  onEvent: (type: EventType, obj: T) => void,
  signal: AbortSignal,
  onError: (e: Error) => void = () => undefined,
  opts: InformOptions = {},
): Promise<{ done: Promise<void> }> {
  const timeoutSeconds = opts.timeoutSeconds ?? 60;
  const silentMax = timeoutSeconds * 1000 + (opts.graceMs ?? 15_000);
  const known = new Map<string, T>();
  const id = (o: T) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const relist = async (): Promise<string | undefined> => {
    const listSignal = AbortSignal.any([signal, AbortSignal.timeout(opts.listTimeoutMs ?? 30_000)]);
    const list = await kube.request<List<T>>('GET', path, { query, signal: listSignal });
    const seen = new Set<string>();
    for (const o of list.items) {
      seen.add(id(o));
      onEvent(known.has(id(o)) ? 'MODIFIED' : 'ADDED', o);
      known.set(id(o), o);
    }
    for (const [k, o] of known) {
      if (!seen.has(k)) {
        known.delete(k);
        onEvent('DELETED', o);
      }
    }
    return list.metadata?.resourceVersion;
  };

  /** One watch; resolves when the server ends it, throws on failure or silence. */
  const watchOnce = async (rv: string | undefined, onRv: (rv: string) => void): Promise<void> => {
    const stalled = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const heard = () => {
      clearTimeout(timer);
      timer = setTimeout(() => stalled.abort(), silentMax);
    };
    heard();
    try {
      await kube.watch<T>(
        path,
        { ...query, resourceVersion: rv, timeoutSeconds },
        (e) => {
          heard();
          if (e.type === 'ERROR') throw new ApiError('watch expired', 410, undefined);
          if (e.object.metadata.resourceVersion) onRv(e.object.metadata.resourceVersion);
          if (e.type === 'BOOKMARK') return;
          if (e.type === 'DELETED') known.delete(id(e.object));
          else known.set(id(e.object), e.object);
          onEvent(e.type, e.object);
        },
        AbortSignal.any([signal, stalled.signal]),
      );
    } finally {
      clearTimeout(timer);
    }
    if (stalled.signal.aborted && !signal.aborted) throw new WatchStalled(silentMax);
  };

  const pause = () => new Promise((r) => setTimeout(r, opts.retryMs ?? 1000));
  let rv = await relist();
  const loop = async () => {
    let fresh = true;
    while (!signal.aborted) {
      try {
        if (!fresh) rv = await relist();
        fresh = true;
        // Resume from the last resourceVersion for as long as the server ends watches cleanly.
        while (!signal.aborted) {
          const started = Date.now();
          await watchOnce(rv, (v) => (rv = v));
          // A server that ends watches at once must not make this a busy loop.
          if (Date.now() - started < 1000) await pause();
        }
      } catch (e) {
        if (signal.aborted) return;
        onError(e as Error);
        fresh = false;
        await pause();
      }
    }
  };
  return { done: loop() };
}
