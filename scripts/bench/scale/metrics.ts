/**
 * The API server's own count of requests (apiserver_request_total), by verb and resource, read
 * from /metrics with the admin kubeconfig through kubectl (the endpoint answers text, which the
 * plugin's JSON client does not read). Two scrapes subtracted give what happened between them,
 * whoever asked.
 */
import { execFileSync } from 'node:child_process';

export type RequestCounts = Map<string, number>;

const LINE = /^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$/;

/** Sums the counter over codes and scopes: "VERB resource[/subresource]" → count. Pure. */
export function parseRequestTotals(text: string): RequestCounts {
  const out: RequestCounts = new Map();
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
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

export function scrapeRequestTotals(): RequestCounts {
  return parseRequestTotals(
    execFileSync('kubectl', ['get', '--raw', '/metrics'], { encoding: 'utf8', maxBuffer: 256 << 20 }),
  );
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
