import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HardenError } from '../../../lib/errors';
import { Kube } from '../../../lib/kube/client';

// client-node's ESM cannot load under jest: a KubeConfig that adds no credentials stands in for it.
jest.mock(
  '@kubernetes/client-node/dist/config.js',
  () => ({
    KubeConfig: class {
      loadFromString(): void {}
      addAuthenticator(): void {}
      async applyToHTTPSOptions(): Promise<void> {}
    },
  }),
  { virtual: true },
);

/** An API server that answers the headers of every request, then never the rest of its body. */
async function stallingServer(): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write('{"kind":');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('--request-timeout', () => {
  test('a request cut off mid-answer names itself, the context and the timeout', async () => {
    const server = await stallingServer();
    try {
      const { port } = server.address() as AddressInfo;
      const server_ = `http://127.0.0.1:${port}`;
      const ctx = {
        files: [],
        context: 'prod',
        cluster: 'c',
        user: 'u',
        server: server_,
        namespace: 'web',
        merged: {},
      };
      const kube = await Kube.fromContext(ctx, 200);
      const e = await kube.get('/api/v1/namespaces/web/pods/nginx').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(HardenError);
      expect((e as HardenError).message).toBe(
        `get pods "nginx" in namespace "web" (context "prod"): no complete answer from ${server_} within 0.2s (--request-timeout)`,
      );
      expect((e as HardenError).hint).toBe('Try again with a longer --request-timeout (0: no limit).');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
