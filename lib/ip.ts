/**
 * Addresses, pure. The address checks of node:net are re-exported here, so the pure core (which may
 * not import node:net, the sockets module) uses them from this module.
 */
export { isIP, isIPv4, isIPv6 } from 'node:net';

/**
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d, how a dual-stack socket shows an IPv4 peer) as the
 * IPv4 address it is; any other address unchanged. The agent's parser and policy synthesis both
 * name such a peer by its IPv4 address.
 */
export function unmapIPv4(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1] : ip;
}
