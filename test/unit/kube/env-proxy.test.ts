import { forClientNode } from '../../../lib/kube/client-node-config';

/** The proxy client-node is told to use for `server`, under `env`. */
function proxyOf(server: string, env: NodeJS.ProcessEnv, own?: string): unknown {
  const cluster = { server, ...(own ? { 'proxy-url': own } : {}) };
  return forClientNode({ clusters: [{ name: 'c', cluster }] }, env).clusters?.[0].cluster?.['proxy-url'];
}

describe('HTTPS_PROXY, HTTP_PROXY and NO_PROXY, as kubectl honours them', () => {
  const env = { HTTPS_PROXY: 'proxy.corp:3128', http_proxy: 'http://plain.corp:80' };

  test('an https server goes through HTTPS_PROXY (http:// assumed), an http one through HTTP_PROXY', () => {
    expect(proxyOf('https://api.example.com:6443', env)).toBe('http://proxy.corp:3128');
    expect(proxyOf('http://api.example.com:8080', env)).toBe('http://plain.corp:80');
    expect(proxyOf('https://api.example.com', {})).toBeUndefined();
  });

  test("the cluster's own proxy-url wins", () => {
    expect(proxyOf('https://api.example.com', env, 'socks5://bastion:1080')).toBe('socks5://bastion:1080');
  });

  test('loopback and NO_PROXY (a domain and its subdomains, .suffix, an address, a CIDR, *) go direct', () => {
    expect(proxyOf('https://127.0.0.1:6443', env)).toBeUndefined();
    expect(proxyOf('https://localhost:6443', env)).toBeUndefined();
    const no = { ...env, NO_PROXY: 'example.com, .internal,10.0.0.0/8,192.168.1.5' };
    expect(proxyOf('https://example.com', no)).toBeUndefined();
    expect(proxyOf('https://api.example.com', no)).toBeUndefined();
    expect(proxyOf('https://notexample.com', no)).toBe('http://proxy.corp:3128');
    expect(proxyOf('https://k8s.internal:6443', no)).toBeUndefined();
    expect(proxyOf('https://10.2.3.4:6443', no)).toBeUndefined();
    expect(proxyOf('https://192.168.1.5:6443', no)).toBeUndefined();
    expect(proxyOf('https://192.168.1.6:6443', no)).toBe('http://proxy.corp:3128');
    expect(proxyOf('https://anything.example.org', { ...env, no_proxy: '*' })).toBeUndefined();
  });
});
