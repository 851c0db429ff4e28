import { envProxy } from './env-proxy';
import type { KubeconfigFile } from './kubeconfig';

/**
 * The kubeconfig as @kubernetes/client-node should load it, where it would not do what kubectl does:
 * - a plain-HTTP server (`kubectl proxy`'s http://127.0.0.1:8001) is marked as skipping TLS
 *   verification, there being no TLS to verify: client-node refuses to make an HTTP agent otherwise;
 * - a cluster without its own proxy-url gets the one HTTPS_PROXY/HTTP_PROXY/NO_PROXY give it, which
 *   client-node would ignore (behind a corporate proxy, every verb failed to reach the server).
 */
export function forClientNode(doc: KubeconfigFile, env: NodeJS.ProcessEnv = process.env): KubeconfigFile {
  return {
    ...doc,
    clusters: doc.clusters?.map((c) => {
      if (!c.cluster) return c;
      const server = String(c.cluster.server ?? '');
      const cluster: Record<string, unknown> = { ...c.cluster };
      if (/^http:/i.test(server)) cluster['insecure-skip-tls-verify'] = true;
      const proxy = cluster['proxy-url'] ? undefined : envProxy(server, env);
      if (proxy) cluster['proxy-url'] = proxy;
      return { ...c, cluster };
    }),
  };
}
