import { BlockList, isIP } from 'node:net';

/** The first of these variables that is set, as Go's httpproxy reads them (upper case first). */
function envAny(env: NodeJS.ProcessEnv, ...names: string[]): string {
  for (const n of names) if (env[n]) return env[n] as string;
  return '';
}

/** Whether NO_PROXY's entry (a domain, .suffix, *.suffix, an address or a CIDR, with an optional port) covers host:port. */
function covers(entry: string, host: string, port: string): boolean {
  const slash = entry.indexOf('/');
  if (slash > 0 && isIP(entry.slice(0, slash)) && isIP(host)) {
    const list = new BlockList();
    const family = isIP(host) === 6 ? 'ipv6' : 'ipv4';
    list.addSubnet(entry.slice(0, slash), Number(entry.slice(slash + 1)), family);
    return list.check(host, family);
  }
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
  if (!m) return false;
  const [, rawHost, entryPort] = m;
  if (entryPort && entryPort !== port) return false;
  const h = rawHost.replace(/^\[|\]$/g, '');
  if (isIP(h)) return h === host;
  // "example.com" covers it and its subdomains; ".example.com" and "*.example.com" the subdomains.
  const suffix = h.replace(/^\*/, '');
  if (suffix.startsWith('.')) return host.endsWith(suffix);
  return host === suffix || host.endsWith(`.${suffix}`);
}

/**
 * The proxy kubectl would use for `server` from HTTPS_PROXY/HTTP_PROXY (http:// assumed when no
 * scheme is given), unless NO_PROXY covers it or it is the local machine (Go never proxies those).
 */
export function envProxy(server: string, env: NodeJS.ProcessEnv): string | undefined {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return undefined;
  }
  const https = url.protocol === 'https:';
  const proxy = https ? envAny(env, 'HTTPS_PROXY', 'https_proxy') : envAny(env, 'HTTP_PROXY', 'http_proxy');
  if (!proxy) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (https ? '443' : '80');
  if (host === 'localhost' || /^127\./.test(host) || host === '::1') return undefined;
  const noProxy = envAny(env, 'NO_PROXY', 'no_proxy')
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean);
  if (noProxy.some((e) => e === '*' || covers(e, host, port))) return undefined;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
}
