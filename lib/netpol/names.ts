/**
 * Policy object names: a DNS-1123 subdomain of at most 253 characters, which is what the API
 * server accepts for a NetworkPolicy's (and a CiliumNetworkPolicy's) metadata.name.
 */
const MAX_NAME = 253;
const SUFFIX = '-harden';

/** FNV-1a, 32 bits, as 8 hex digits: a short, stable tag for a name that had to be cut. */
export function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** Lower case; anything but [a-z0-9.-] becomes '-'; each dot-separated label starts and ends alphanumeric. */
function subdomain(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .split('.')
    .map((l) => l.replace(/^-+|-+$/g, ''))
    .filter(Boolean)
    .join('.');
}

/**
 * `<parts joined by ->-harden`, valid and ≤ 253 characters: a longer one keeps its head and gets a
 * hash of the whole, so two long names that share a head stay apart.
 */
export function policyName(parts: string[]): string {
  const base = subdomain(parts.join('-')) || 'workload';
  const full = `${base}${SUFFIX}`;
  if (full.length <= MAX_NAME) return full;
  const tag = `-${shortHash(parts.join('/'))}${SUFFIX}`;
  const head = base.slice(0, MAX_NAME - tag.length).replace(/[.-]+$/, '');
  return `${head}${tag}`;
}

/** The k-th (k ≥ 2) of several policies one workload's is split into: `<name>-<k>`, still ≤ 253 characters. */
export function partName(name: string, k: number): string {
  const suffix = `-${k}`;
  if (name.length + suffix.length <= MAX_NAME) return `${name}${suffix}`;
  // Cut the head, keeping "-harden-<k>" whole.
  const tail = name.endsWith(SUFFIX) ? `${SUFFIX}${suffix}` : suffix;
  const head = name.slice(0, name.length - (tail.length - suffix.length));
  return `${head.slice(0, MAX_NAME - tail.length).replace(/[.-]+$/, '')}${tail}`;
}
