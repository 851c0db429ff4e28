import { isIPv4, isIPv6 } from '../ip';

/** An address as a number in its family; an IPv4-mapped IPv6 address is the IPv4 address it carries. */
export interface Address {
  family: 4 | 6;
  value: bigint;
}

export interface Cidr extends Address {
  prefix: number;
  text: string;
}

const BITS = { 4: 32, 6: 128 } as const;

function v4(text: string): bigint {
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function v6(text: string): bigint {
  // A trailing dotted quad (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let body = text;
  if (quad) {
    const n = v4(quad[1]);
    body = `${text.slice(0, -quad[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = body.split('::');
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

const MAPPED_V4 = 0xffffn << 32n;

/** An address (or block) as text: IPv4 dotted, IPv6 in its canonical form (RFC 5952). */
export function formatCidr(value: bigint, bits: 32 | 128, prefix: number): string {
  if (bits === 32) {
    const octets = [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn));
    return `${octets.join('.')}/${prefix}`;
  }
  const groups = Array.from({ length: 8 }, (_, i) =>
    ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16),
  );
  // The WHATWG URL parser writes the canonical (RFC 5952) form: the longest zero run as ::.
  const canonical = new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
  return `${canonical}/${prefix}`;
}

/** undefined when text is not an IP address. */
export function parseAddress(text: string): Address | undefined {
  if (isIPv4(text)) return { family: 4, value: v4(text) };
  const bare = text.replace(/%.*$/, ''); // a zone (fe80::1%eth0) names an interface, not an address
  if (!isIPv6(bare)) return undefined;
  const value = v6(bare);
  // The kernel reports IPv4 peers of a dual-stack socket as ::ffff:a.b.c.d; the packet was IPv4.
  if (value >> 32n === 0xffffn) return { family: 4, value: value - MAPPED_V4 };
  return { family: 6, value };
}

/** A CIDR, host bits masked off (felix does the same); a message saying what is wrong otherwise. */
export function parseCidr(text: string): Cidr | string {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) return `"${text}" is not a CIDR (address/prefix)`;
  const addr = isIPv4(m[1])
    ? { family: 4 as const, value: v4(m[1]) }
    : isIPv6(m[1])
      ? { family: 6 as const, value: v6(m[1]) }
      : undefined;
  if (!addr) return `"${text}" is not a CIDR: "${m[1]}" is not an IP address`;
  const prefix = Number(m[2]);
  const bits = BITS[addr.family];
  if (prefix > bits) return `"${text}" is not a CIDR: the prefix is longer than ${bits} bits`;
  const shift = BigInt(bits - prefix);
  return { family: addr.family, value: (addr.value >> shift) << shift, prefix, text };
}

export function contains(cidr: Cidr, addr: Address): boolean {
  if (cidr.family !== addr.family) return false;
  const shift = BigInt(BITS[cidr.family] - cidr.prefix);
  return addr.value >> shift === cidr.value >> shift;
}

/** Whether inner lies wholly inside outer (what the API server demands of an ipBlock's except). */
export function within(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner);
}
