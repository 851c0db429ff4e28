import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { HardenError } from '../errors';
import type { ResolvedContext } from './kubeconfig';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The context a pod has: its ServiceAccount token (re-read by the client as kubelet rotates it) and
 * the cluster CA, at the API server address kubelet injects.
 */
export function inClusterContext(env: NodeJS.ProcessEnv = process.env, dir = SA_DIR): ResolvedContext {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host || !existsSync(`${dir}/token`)) {
    throw new HardenError(
      'not running in a pod (no KUBERNETES_SERVICE_HOST or ServiceAccount token) and KUBECONFIG is not set',
      'Set KUBECONFIG to run the agent outside a cluster.',
    );
  }
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const namespace = existsSync(`${dir}/namespace`)
    ? readFileSync(`${dir}/namespace`, 'utf8').trim()
    : 'default';
  return {
    files: [],
    context: 'in-cluster',
    cluster: 'in-cluster',
    user: 'serviceaccount',
    server,
    namespace,
    merged: {
      'current-context': 'in-cluster',
      clusters: [{ name: 'in-cluster', cluster: { server, 'certificate-authority': `${dir}/ca.crt` } }],
      users: [
        {
          name: 'serviceaccount',
          user: { 'auth-provider': { name: 'tokenFile', config: { tokenFile: `${dir}/token` } } },
        },
      ],
      contexts: [
        { name: 'in-cluster', context: { cluster: 'in-cluster', user: 'serviceaccount', namespace } },
      ],
    },
  };
}
