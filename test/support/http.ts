// HTTP from inside a client pod (the curl image), as a workload's peers reach it.
import { curlFrom } from './kube-pods';

/** `curl URL` from a pod: the HTTP status ("200"), or "exit N: stderr" when curl failed. */
export async function httpStatus(namespace: string, pod: string, url: string): Promise<string> {
  const r = await curlFrom(namespace, pod, url, 5, ['--max-time', '5']);
  return r.status.startsWith('exit ') ? `${r.status}: ${r.stderr}` : r.status;
}
