import { formatCidr, parseAddress } from './cidr';

/**
 * Folding many single addresses into few CIDRs, for `netpol report --aggregate`. Pure.
 *
 * The addresses of one family are sorted; two neighbours share a prefix as long as their common
 * leading bits. Joining neighbours from the longest shared prefix down (a whole /len block at a
 * time, so the CIDRs never overlap) until at most `max` groups remain widens each rule as little
 * as a prefix tree allows: close addresses are folded first, distant ones only when they must be.
 */

function bitLength(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

/** Gap indices of one length, grouped by the /len block they are in (ascending, so deterministic). */
function blocks(indices: number[], gap: number[], len: number): number[][] {
  const out: number[][] = [];
  let prev = -1;
  for (const i of indices) {
    // Same block unless a gap in between is shorter (a boundary between two /len blocks).
    const same = prev >= 0 && gap.slice(prev + 1, i).every((g) => g >= len);
    if (same) out[out.length - 1].push(i);
    else out.push([i]);
    prev = i;
  }
  return out;
}

/** One family's addresses (sorted, distinct) folded into at most max CIDRs. */
function foldFamily(addrs: bigint[], bits: 32 | 128, max: number): string[] {
  if (addrs.length <= max) return addrs.map((a) => formatCidr(a, bits, bits));
  // gap[i]: the prefix length addrs[i] and addrs[i+1] share.
  const gap = addrs.slice(1).map((a, i) => bits - bitLength(a ^ addrs[i]));
  const byLength: number[][] = Array.from({ length: bits + 1 }, () => []);
  gap.forEach((len, i) => byLength[len].push(i));
  const joined = new Array<boolean>(gap.length).fill(false);
  let groups = addrs.length;
  for (let len = bits; len >= 0 && groups > max; len--) {
    // The gaps of one /len block are joined together (a part would give overlapping CIDRs);
    // blocks are independent, so joining stops at the first block that brings the count down.
    for (const block of blocks(byLength[len], gap, len)) {
      if (groups <= max) break;
      for (const i of block) joined[i] = true;
      groups -= block.length;
    }
  }
  const out: string[] = [];
  let start = 0;
  let prefix: number = bits;
  for (let i = 0; i < addrs.length; i++) {
    if (i < gap.length && joined[i]) {
      prefix = Math.min(prefix, gap[i]);
      continue;
    }
    const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
    out.push(formatCidr(addrs[start] & mask, bits, prefix));
    start = i + 1;
    prefix = bits;
  }
  return out;
}

/** Host CIDRs (a.b.c.d/32, …/128) → at most max CIDRs per family covering them all; IPv4 first. */
export function foldAddresses(cidrs: string[], max: number): string[] {
  const byFamily = { 4: new Set<bigint>(), 6: new Set<bigint>() };
  for (const c of cidrs) {
    const a = parseAddress(c.split('/')[0]);
    if (a) byFamily[a.family].add(a.value);
  }
  const sorted = (s: Set<bigint>) => [...s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return [...foldFamily(sorted(byFamily[4]), 32, max), ...foldFamily(sorted(byFamily[6]), 128, max)];
}
