/**
 * Sizes a policy must stay under to be usable. Pure.
 * - `kubectl apply` (client side) copies the whole object into the
 *   kubectl.kubernetes.io/last-applied-configuration annotation, and the API server refuses
 *   annotations over 256 KiB in total.
 * - etcd refuses a request over 1.5 MiB (its default --max-request-bytes), whatever the client.
 */
export const LAST_APPLIED_LIMIT = 256 * 1024;
const ETCD_LIMIT = 1.5 * 1024 * 1024;
const LAST_APPLIED_KEY = 'kubectl.kubernetes.io/last-applied-configuration';

export interface Sized {
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
}

/**
 * What `kubectl apply` puts into the annotations: the object itself (as JSON) plus its other
 * annotations, at least. The smaller limit, so what fits here fits etcd.
 */
export function appliedBytes(o: Sized): number {
  const annotations = Object.entries(o.metadata.annotations ?? {}).reduce(
    (n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v),
    0,
  );
  return Buffer.byteLength(JSON.stringify(o)) + LAST_APPLIED_KEY.length + annotations;
}

/** What is wrong with the object's size, or undefined when it fits both limits. */
export function sizeProblem(o: Sized): string | undefined {
  const json = Buffer.byteLength(JSON.stringify(o));
  const kib = (n: number) => `${Math.ceil(n / 1024)} KiB`;
  const what = `policy ${o.metadata.namespace}/${o.metadata.name} is ${kib(json)}`;
  if (json > ETCD_LIMIT) return `${what}, over the 1.5 MiB etcd stores per object`;
  if (appliedBytes(o) > LAST_APPLIED_LIMIT)
    return `${what}, over the 256 KiB kubectl apply's last-applied-configuration annotation can hold`;
  return undefined;
}
