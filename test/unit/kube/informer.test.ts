// The informer loop against a scripted API server: a watch that goes silent (a hung or stopped
// API server keeps the TCP connection open) is abandoned and the view re-listed.
import type { Kube, RequestOptions, WatchEvent } from '../../../lib/kube/client';
import { inform, WatchStalled, type EventType } from '../../../lib/kube/informer';
import { eventually } from '../../support/eventually';
import type { KubeObject, List } from '../../../lib/kube/objects';

const obj = (name: string, rv: string): KubeObject => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv },
});

/** An API server whose lists answer `items` and whose watches do what the test scripts. */
class ScriptedServer {
  items: KubeObject[] = [];
  lists = 0;
  watches: { query: Record<string, unknown>; send: (e: WatchEvent<KubeObject>) => void; end: () => void }[] =
    [];
  /** While true, requests are accepted and never answered, like a SIGSTOPped kube-apiserver. */
  hung = false;

  get kube(): Kube {
    return this as unknown as Kube;
  }

  request<T>(_method: string, _path: string, opts: RequestOptions): Promise<T> {
    if (this.hung)
      return new Promise((_, reject) =>
        opts.signal?.addEventListener('abort', () => reject(new Error('aborted'))),
      );
    this.lists++;
    return Promise.resolve({
      items: this.items,
      metadata: { resourceVersion: String(10 + this.lists) },
    } as List<KubeObject> as T);
  }

  watch<T>(
    _path: string,
    query: Record<string, unknown>,
    onEvent: (e: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise((resolve) => {
      const w = { query, send: onEvent as (e: WatchEvent<KubeObject>) => void, end: () => resolve() };
      this.watches.push(w);
      // The client's abort ends the stream quietly, as Kube.watch does.
      signal.addEventListener('abort', () => resolve());
    });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Polls fast: the scripted server changes within milliseconds. */
const soon = (what: string, ok: () => boolean) =>
  eventually(async () => ok(), Boolean, { what, everyMs: 10, withinMs: 5000 });

describe('inform', () => {
  const abort = new AbortController();
  afterAll(() => abort.abort());

  test('a stalled watch is abandoned after timeoutSeconds + grace, and a re-list reports what changed meanwhile', async () => {
    const server = new ScriptedServer();
    server.items = [obj('a', '1'), obj('b', '2')];
    const events: [EventType, string][] = [];
    const errors: Error[] = [];
    const ac = new AbortController();
    abort.signal.addEventListener('abort', () => ac.abort());
    await inform(
      server.kube,
      '/api/v1/pods',
      undefined,
      (t, o) => events.push([t, o.metadata.name]),
      ac.signal,
      (e) => errors.push(e),
      {
        timeoutSeconds: 1,
        graceMs: 300,
        retryMs: 50,
        listTimeoutMs: 500,
      },
    );
    await soon('a watch', () => server.watches.length === 1);
    expect(server.watches[0].query).toMatchObject({ timeoutSeconds: 1, resourceVersion: '11' });
    server.watches[0].send({ type: 'ADDED', object: obj('c', '12') });
    // The server hangs: the open watch says nothing, new requests are never answered.
    server.hung = true;
    server.items = [obj('a', '1'), obj('c', '12'), obj('d', '13')];
    const t0 = Date.now();
    await soon('the stall noticed', () => errors.some((e) => e instanceof WatchStalled));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    await sleep(800); // a list times out while the server is hung, and is retried
    expect(errors.length).toBeGreaterThan(1);
    server.hung = false;
    await soon('a new watch after the re-list', () => server.watches.length === 2);
    expect(events).toEqual([
      ['ADDED', 'a'],
      ['ADDED', 'b'],
      ['ADDED', 'c'],
      ['MODIFIED', 'a'],
      ['MODIFIED', 'c'],
      ['ADDED', 'd'],
      ['DELETED', 'b'],
    ]);
    ac.abort();
  });

  test('a watch the server ends on time is resumed from the last resourceVersion, without a list', async () => {
    const server = new ScriptedServer();
    const ac = new AbortController();
    abort.signal.addEventListener('abort', () => ac.abort());
    await inform(server.kube, '/api/v1/pods', undefined, () => undefined, ac.signal, undefined, {
      timeoutSeconds: 1,
      retryMs: 10,
    });
    await soon('a watch', () => server.watches.length === 1);
    server.watches[0].send({ type: 'BOOKMARK', object: obj('', '42') });
    server.watches[0].end();
    await soon('the next watch', () => server.watches.length === 2);
    expect(server.watches[1].query).toMatchObject({ resourceVersion: '42' });
    expect(server.lists).toBe(1);
    ac.abort();
  });
});
