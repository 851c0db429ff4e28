/**
 * Counts what one agent asks of the API server, by wrapping its own Kube instance (bench-side: the
 * client in lib/kube is left as it is). Every request goes through Kube.request (get, mergePatch
 * and apply call it) or Kube.watch, so replacing those two on the instance sees them all.
 */
import type { Kube, RequestOptions, WatchEvent } from '../../../lib/kube/client';

export interface Call {
  /** ms since the epoch, when the request was sent. */
  at: number;
  method: string;
  /** The resource path without names: what the request was about (e.g. "tracesessions/status"). */
  what: string;
  /** Request body bytes (what the agent wrote). */
  bytes: number;
  /** How long the answer took (ms); -1 while open, or for a watch. */
  ms: number;
}

export interface Tally {
  calls: Call[];
  /** Watch events received, and their JSON bytes (what every agent reads of the others' writes). */
  watchEvents: { at: number; bytes: number }[];
}

/** "/apis/harden.dev/v1alpha1/namespaces/x/tracesessions/s1/status" → "tracesessions/status". */
export function resourceOf(path: string): string {
  const parts = path.split('?')[0].split('/').filter(Boolean);
  const core = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  const rest = core[0] === 'namespaces' && core.length > 2 ? core.slice(2) : core;
  return [rest[0], rest[2]].filter(Boolean).join('/');
}

const bodyBytes = (body: unknown) =>
  body === undefined ? 0 : Buffer.byteLength(typeof body === 'string' ? body : JSON.stringify(body));

/** Wraps the instance in place; the returned tally fills as it is used. */
export function countRequests(kube: Kube, measureWatchBytes: boolean): Tally {
  const tally: Tally = { calls: [], watchEvents: [] };
  const request = kube.request.bind(kube);
  const watch = kube.watch.bind(kube);
  kube.request = <T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> => {
    const call: Call = {
      at: Date.now(),
      method,
      what: resourceOf(path),
      bytes: bodyBytes(opts.body),
      ms: -1,
    };
    tally.calls.push(call);
    return request<T>(method, path, opts).finally(() => (call.ms = Date.now() - call.at));
  };
  kube.watch = <T>(
    path: string,
    query: RequestOptions['query'],
    onEvent: (e: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> => {
    tally.calls.push({ at: Date.now(), method: 'WATCH', what: resourceOf(path), bytes: 0, ms: -1 });
    return watch<T>(
      path,
      query,
      (e) => {
        // Re-serialising costs what the agent's parse did; worth it only when asked for.
        tally.watchEvents.push({ at: Date.now(), bytes: measureWatchBytes ? JSON.stringify(e).length : 0 });
        onEvent(e);
      },
      signal,
    );
  };
  return tally;
}
