import { forClientNode } from '../../../lib/kube/client-node-config';

describe('the kubeconfig as client-node loads it', () => {
  test("a plain-HTTP server (kubectl proxy's) has no TLS to verify, so client-node makes it an HTTP agent", () => {
    const doc = forClientNode(
      {
        clusters: [
          { name: 'proxy', cluster: { server: 'http://127.0.0.1:8001' } },
          { name: 'tls', cluster: { server: 'https://x.example:6443' } },
        ],
      },
      {},
    );
    expect(doc.clusters).toEqual([
      { name: 'proxy', cluster: { server: 'http://127.0.0.1:8001', 'insecure-skip-tls-verify': true } },
      { name: 'tls', cluster: { server: 'https://x.example:6443' } },
    ]);
  });
});
