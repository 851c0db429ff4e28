// HTTP from inside a client pod (the curl image), as a workload's peers reach it.
import { execInKubePod } from './kube-pods';

/** `curl URL` from a pod: the HTTP status ("200"), or "exit N: stderr" when curl failed. */
export async function httpStatus(namespace: string, pod: string, url: string): Promise<string> {
  const r = await execInKubePod(namespace, pod, [
    'curl',
    '-sS',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '--max-time',
    '5',
    url,
  ]);
  return r.code === 0 ? r.stdout : `exit ${r.code}: ${r.stderr}`;
}
