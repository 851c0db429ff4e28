/**
 * The API server's own count of requests (apiserver_request_total) and of the bytes it answered
 * (apiserver_response_sizes_sum), by verb and resource, read from /metrics with the admin
 * kubeconfig through kubectl (the endpoint answers text, which the plugin's JSON client does not
 * read). Two scrapes subtracted give what happened between them, whoever asked.
 */
import { execFileSync } from 'node:child_process';

export type RequestCounts = Map<string, number>;

/** Sums one metric over codes and scopes: "VERB resource[/subresource]" → value. Pure. */
function parseTotals(text: string, metric = 'apiserver_request_total'): RequestCounts {
  const out: RequestCounts = new Map();
  const prefix = `${metric}{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const m = /^[a-z_]+\{([^}]*)\} ([0-9.e+]+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries(
      [...m[1].matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]] as [string, string]),
    );
    const what = [labels.resource, labels.subresource].filter(Boolean).join('/');
    const key = `${labels.verb} ${what}`;
    out.set(key, (out.get(key) ?? 0) + Number(m[2]));
  }
  return out;
}

const scrape = () =>
  execFileSync('kubectl', ['get', '--raw', '/metrics'], { encoding: 'utf8', maxBuffer: 256 << 20 });

/** Requests, and bytes answered, by verb and resource. */
export function scrapeRequestsAndBytes(): { requests: RequestCounts; bytes: RequestCounts } {
  const text = scrape();
  return { requests: parseTotals(text), bytes: parseTotals(text, 'apiserver_response_sizes_sum') };
}

/** after − before, only what changed. */
export function diffCounts(before: RequestCounts, after: RequestCounts): RequestCounts {
  const out: RequestCounts = new Map();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}
