import { isIP } from '../ip';
import type { Flow, Peer, TargetPod } from './log';

/** The timestamps a flow log holds (validateLine's check too). */
export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const INT = '(?:0|[1-9]\\d{0,14})'; // 15 digits stay exact in a double
const PORT = '(?:0|[1-9]\\d{0,4})';
// IPv4 in full (what isIP takes: no leading zeros); anything else with a colon is checked by isIP.
// No zone id (%), which validateLine refuses.
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const ADDRESS = `(?:(?:${OCTET}\\.){3}${OCTET}|[0-9A-Fa-f.]*:[0-9A-Fa-f.:]*)`;
const TIME = RFC3339.source.slice(1, -1).replace(/\((?!\?)/g, '(?:');

/**
 * A flow line exactly as `netpol monitor` writes it (FlowLogWriter: identities by id, fields in its
 * order, no whitespace or escapes), checked in one pass of V8's regular expression engine. Sticky:
 * it runs at a line's offset in the chunk the line came from, with no copy of the line.
 */
const MONITOR_FLOW = new RegExp(
  `\\{"kind":"flow","target":${INT},"peer":${INT},"direction":"(?:ingress|egress)","proto":"(?:TCP|UDP)",` +
    `"localIP":"${ADDRESS}","localPort":${PORT},"remoteIP":"${ADDRESS}","remotePort":${PORT},` +
    `"count":[1-9]\\d{0,14},"firstSeen":"${TIME}","lastSeen":"${TIME}"\\}`,
  'y',
);

/**
 * The fast path of reading a flow log, which took JSON.parse and validateLine two thirds of
 * `netpol report`'s time. A line in the monitor's own layout is matched by one regular expression
 * and its values read at the offsets that layout fixes. Anything else (inline identities, other
 * field orders, unknown fields, escapes, whitespace, a value out of range) returns undefined and
 * takes JSON.parse and validateLine, which also word any error: this path accepts a subset of what
 * that one accepts and yields the same object for it.
 */
export class FlowScanner {
  /** IPv6 addresses already checked. Bounded: external peers are unbounded. */
  private readonly ips = new Map<string, string>();

  /**
   * The flow on text[from, to), its target and peer looked up in the definitions read so far, or
   * undefined when the line must take the full parse (which also reports an unknown id).
   */
  scan(
    text: string,
    from: number,
    to: number,
    targets: Map<number, TargetPod>,
    peers: Map<number, Peer>,
  ): Flow | undefined {
    MONITOR_FLOW.lastIndex = from;
    if (!MONITOR_FLOW.test(text) || MONITOR_FLOW.lastIndex !== to) return undefined;
    // Every offset below follows from the expression having matched.
    const target = digits(text, from + '{"kind":"flow","target":'.length);
    const peer = digits(text, after + ',"peer":'.length);
    let pos = after + ',"direction":"'.length;
    const ingress = text.charCodeAt(pos) === 0x69; // i
    pos += (ingress ? 'ingress' : 'egress').length + '","proto":"'.length;
    const tcp = text.charCodeAt(pos) === 0x54; // T
    pos += 'TCP","localIP":"'.length;
    const localIP = this.ip(text, pos);
    if (localIP === undefined) return undefined;
    const localPort = digits(text, pos + localIP.length + '","localPort":'.length);
    pos = after + ',"remoteIP":"'.length;
    const remoteIP = this.ip(text, pos);
    if (remoteIP === undefined) return undefined;
    const remotePort = digits(text, pos + remoteIP.length + '","remotePort":'.length);
    const count = digits(text, after + ',"count":'.length);
    pos = after + ',"firstSeen":"'.length;
    const end = text.indexOf('"', pos);
    const firstSeen = copy(text, pos, end);
    const lastSeen = copy(text, end + '","lastSeen":"'.length, to - '"}'.length);
    // validateFlow's ranges: ports fit 16 bits, and the rule's own port is a real one.
    if (localPort > 65535 || remotePort > 65535 || (ingress ? localPort : remotePort) === 0) return undefined;
    const targetPod = targets.get(target);
    const peerDef = peers.get(peer);
    if (targetPod === undefined || peerDef === undefined) return undefined;
    return {
      kind: 'flow',
      target: targetPod,
      peer: peerDef,
      direction: ingress ? 'ingress' : 'egress',
      proto: tcp ? 'TCP' : 'UDP',
      localIP,
      localPort,
      remoteIP,
      remotePort,
      count,
      firstSeen,
      lastSeen,
    };
  }

  /**
   * The address starting at text[pos] if validateLine would take it, as a string of its own. The
   * expression has checked an IPv4 address in full; an IPv6 one is checked by isIP, once.
   */
  private ip(text: string, pos: number): string | undefined {
    const end = text.indexOf('"', pos);
    const raw = copy(text, pos, end);
    if (text.indexOf(':', pos) > end) return raw; // no colon: IPv4
    const known = this.ips.get(raw);
    if (known !== undefined) return known;
    if (isIP(raw) === 0) return undefined;
    if (this.ips.size >= 4096) this.ips.clear();
    this.ips.set(raw, raw);
    return raw;
  }
}

const COMMA = 0x2c;
const ZERO = 0x30;

/** Where the last number read by digits() ended (at its comma). */
let after = 0;

/** The integer the expression matched at text[pos], up to its comma. */
function digits(text: string, pos: number): number {
  let v = 0;
  for (let c = text.charCodeAt(pos); c !== COMMA; c = text.charCodeAt(++pos)) v = v * 10 + (c - ZERO);
  after = pos;
  return v;
}

/**
 * text[from, to) as a string of its own. V8 makes a slice of 13 characters or more a view into its
 * parent, the 64 KiB the line was decoded in: a consumer that keeps the value (verify keeps each
 * connection's first and last time) would keep every such piece alive. Slices shorter than that
 * are copies, and joining them makes no view.
 */
function copy(text: string, from: number, to: number): string {
  return to - from < 13 ? text.slice(from, to) : text.slice(from, from + 12) + copy(text, from + 12, to);
}
