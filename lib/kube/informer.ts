import { ApiError, type Kube } from './client';
import type { KubeObject, List } from './objects';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/**
 * List, then watch from the list's resourceVersion, and start over when the watch ends or expires
 * (410 Gone): the classic informer loop, delivering every object as ADDED/MODIFIED/DELETED until
 * the signal aborts. The first list is awaited, so callers know the view is complete.
 */
export async function inform<T extends KubeObject>(
  kube: Kube,
  path: string,
  query: Record<string, string> | undefined,
  onEvent: (type: EventType, obj: T) => void,
  signal: AbortSignal,
  onError: (e: Error) => void = () => undefined,
): Promise<{ done: Promise<void> }> {
  const known = new Map<string, T>();
  const id = (o: T) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const relist = async (): Promise<string | undefined> => {
    const list = await kube.get<List<T>>(path, query);
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
  let rv = await relist();
  const loop = async () => {
    while (!signal.aborted) {
      try {
        await kube.watch<T>(
          path,
          { ...query, resourceVersion: rv },
          (e) => {
            if (e.type === 'ERROR' || e.type === 'BOOKMARK') {
              if (e.type === 'BOOKMARK') rv = e.object.metadata.resourceVersion ?? rv;
              else throw new ApiError('watch expired', 410, undefined);
              return;
            }
            rv = e.object.metadata.resourceVersion ?? rv;
            if (e.type === 'DELETED') known.delete(id(e.object));
            else known.set(id(e.object), e.object);
            onEvent(e.type, e.object);
          },
          signal,
        );
      } catch (e) {
        if (signal.aborted) return;
        onError(e as Error);
        await new Promise((r) => setTimeout(r, 1000));
      }
      if (signal.aborted) return;
      rv = await relist().catch((e: Error) => (onError(e), rv));
    }
  };
  return { done: loop() };
}
