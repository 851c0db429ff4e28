import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { FlowScanner } from '../../../lib/netpol/flow-scan';
import { FlowLogWriter } from '../../../lib/netpol/log-writer';
import { parseLine, type FlowLine, type Peer, type TargetPod } from '../../../lib/netpol/log';

const target: TargetPod = {
  namespace: 'web',
  name: 'api-1',
  labels: { app: 'api' },
  owner: { kind: 'Deployment', name: 'api' },
};
const peer: Peer = { kind: 'external', ip: '2001:db8::7', family: 6 };

const fields = {
  direction: 'egress',
  proto: 'TCP',
  localIP: 'fd00:10:244::5',
  localPort: 40000,
  remoteIP: '2001:db8::7',
  remotePort: 443,
  count: 3,
  firstSeen: '2025-03-01T10:00:01.123456Z',
  lastSeen: '2025-03-01T10:00:02+01:00',
};

/** A flow line in the layout of the monitor's FlowLogWriter (first test), values unchecked. */
function monitorLine(over: Record<string, unknown> = {}): string {
  return JSON.stringify({ kind: 'flow', target: 0, peer: 1, ...fields, ...over });
}

/** What FlowLogWriter itself writes for the flow: identities first, then the flow by id. */
function written(over: Partial<FlowLine>): string {
  const lines: string[] = [];
  const w = new FlowLogWriter((l) => lines.push(l.trimEnd()));
  w.write({
    kind: 'flow',
    target: w.idOf('target', target), // 0, then the peer 1: the ids defs() has
    peer: w.idOf('peer', peer),
    ...(fields as Omit<FlowLine, 'kind' | 'target' | 'peer'>),
    ...over,
  });
  return lines[lines.length - 1];
}

const defs = () => ({ targets: new Map([[0, target]]), peers: new Map([[1, peer]]) });

/** What the full path (JSON.parse, validateLine, then the ids resolved) makes of a line, or its error. */
function fullPath(text: string): unknown {
  try {
    const line = parseLine(text, 1) as FlowLine;
    const { targets, peers } = defs();
    if (line.kind !== 'flow' || typeof line.target !== 'number' || typeof line.peer !== 'number')
      return 'not a flow by ids';
    const t = targets.get(line.target);
    const p = peers.get(line.peer);
    return t && p ? { ...line, target: t, peer: p } : 'unknown id';
  } catch (e) {
    return (e as Error).message;
  }
}

function scan(text: string, scanner = new FlowScanner()) {
  const { targets, peers } = defs();
  // Inside a bigger chunk, as the report reads it.
  const chunk = `{"kind":"peer"}\n${text}\n{"kind":"flow"}`;
  const from = chunk.indexOf('\n') + 1;
  return scanner.scan(chunk, from, from + text.length, targets, peers);
}

describe('FlowScanner', () => {
  it("reads the monitor's own lines, into what the full parse makes of them, keys in the same order", () => {
    for (const over of [
      {},
      { direction: 'ingress' as const, localPort: 8080, remotePort: 0 },
      { proto: 'UDP' as const },
    ]) {
      const text = written(over);
      expect(text).toBe(monitorLine(over));
      const fast = scan(text);
      expect(fast).toBeDefined();
      expect(fast).toEqual(fullPath(text));
      expect(Object.keys(fast as object)).toEqual(Object.keys(fullPath(text) as object));
    }
  });

  it('agrees with the full path on every variant it accepts, and accepts none the full path refuses', () => {
    const base = monitorLine();
    const variants = new Set<string>();
    // Every character replaced by characters that matter to JSON, numbers, addresses and times.
    for (let i = 0; i < base.length; i++)
      for (const c of ['', '"', '\\', ' ', '0', '9', '-', '.', ':', 'e', 'Z', 'x', ',', '}', '%'])
        variants.add(base.slice(0, i) + c + base.slice(i + 1));
    for (const over of [
      { localPort: 0 },
      { remotePort: 0 },
      { remotePort: 65535 },
      { localPort: 65536 },
      { count: 0 },
      { count: Number.MAX_SAFE_INTEGER },
      { remoteIP: 'fe80::1%eth0' },
      { remoteIP: '10.0.0.256' },
      { remoteIP: '01.2.3.4' },
      { remoteIP: '1.2.3' },
      { remoteIP: '1.2.3.4.5' },
      { remoteIP: '255.255.255.255' },
      { remoteIP: '0.0.0.0' },
      { localIP: '192.168.100.200' },
      { localIP: '2001:db8::1.2.3.4' },
      { localIP: ':::' },
      { localIP: '::ffff:10.0.0.1' },
      { firstSeen: '2025-03-01 10:00:01Z' },
      { lastSeen: '2025-03-01T10:00:02.1234567890Z' },
      { direction: 'sideways' },
    ])
      variants.add(monitorLine(over));
    variants.add(base.replace('"target":0', '"target":00'));
    variants.add(base.replace('"count":3', '"count":3.0'));
    variants.add(base.replace('"count":3', '"count":3e0'));
    variants.add(base.replace('"peer":1', '"peer":7')); // no such peer
    variants.add(base.replace('"kind":"flow",', '"kind":"flow","extra":1,'));
    variants.add(base.replace('}', ',"count":4}')); // repeated: JSON.parse keeps the last
    variants.add(base.replace('"remoteIP":"2001:db8::7"', '"remoteIP":"2001:db8::\\u0037"'));
    variants.add(base + ' ');
    let accepted = 0;
    for (const text of variants) {
      const fast = scan(text);
      if (fast === undefined) continue;
      accepted++;
      expect({ text, result: fast }).toEqual({ text, result: fullPath(text) });
    }
    expect(accepted).toBeGreaterThan(50); // digits changed in place, other valid times and addresses
  });

  it('keeps its answers when the same ids come back with other addresses', () => {
    const scanner = new FlowScanner();
    for (const ip of ['10.0.0.1', '10.0.0.10', '10.0.0.1', '10.0.0.1x']) {
      const text = monitorLine({ localIP: ip });
      expect(scan(text, scanner)).toEqual(ip.endsWith('x') ? undefined : fullPath(text));
    }
  });

  it("takes every flow line of the benchmark's generator (what the benchmark measures)", () => {
    const generator = path.resolve(__dirname, '..', '..', '..', 'scripts', 'gen-flow-log.mjs');
    const text = execFileSync(process.execPath, [generator, '2000'], { encoding: 'utf8' });
    const scanner = new FlowScanner();
    const targets = new Map<number, TargetPod>();
    const peers = new Map<number, Peer>();
    let flows = 0;
    for (const line of text.trimEnd().split('\n').slice(1)) {
      const o = JSON.parse(line);
      if (o.kind === 'target') targets.set(o.id, o.target);
      else if (o.kind === 'peer') peers.set(o.id, o.peer);
      else {
        flows++;
        expect({ line, taken: scanner.scan(line, 0, line.length, targets, peers) !== undefined }).toEqual({
          line,
          taken: true,
        });
      }
    }
    expect(flows).toBe(2000);
  });
});
