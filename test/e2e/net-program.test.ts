/**
 * The network-session program against the real kernel and the agent image's bpftrace (root, no
 * cluster; see bpftrace-under-test.ts).
 *
 * On loopback: the agent's own runner, a target cgroup made after the program started (armed by
 * cgroup_mkdir), a TCP connect and a UDP sendto to 127.0.0.1.
 *
 * In private network namespaces: three of our own on a bridge that lives in a fourth, so nothing
 * touches the host's interfaces or addresses: A serves HTTP (the traced server, attributed by its
 * IP), B is the traced client (attributed by cgroup), C is an untraced client in an untraced cgroup.
 *
 * CAPTURE_NET_OUTPUT=<file> keeps bpftrace's raw output (the parser's unit-test fixture).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BpftraceRun } from '../../lib/agent/core/bpftrace';
import { EV_TICK } from '../../lib/agent/core/program';
import { CgroupLayout, cgroupIdOf, findCgroup2Mount } from '../../lib/agent/core/cgroups';
import type { Dialect } from '../../lib/agent/core/dialect';
import { parseNetLine, type FlowRecord } from '../../lib/agent/recorders/network/parse';
import { FlowTable } from '../../lib/agent/recorders/network/record';
import type { Flow } from '../../lib/agent/recorders/network/types';
import type { TraceEvent } from '../../lib/agent/core/output';
import { networkOnlyProgram, parse, recordedBy } from '../support/programs';
import { BPFTRACE, canRunBpftrace, dialectUnderTest } from './bpftrace-under-test';

const INTERVAL = 300;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const has = (bin: string) =>
  ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => fs.existsSync(`${d}/${bin}`));
const canRun = canRunBpftrace && has('busybox') && has('ip');
const d = canRun ? describe : describe.skip;

const tag = randomBytes(3).toString('hex');
const NS = { br: `hnet-${tag}-br`, a: `hnet-${tag}-a`, b: `hnet-${tag}-b`, c: `hnet-${tag}-c` };
const IP = {
  a: { v4: '10.250.0.1', v6: 'fd00:250::1' },
  b: { v4: '10.250.0.2', v6: 'fd00:250::2' },
  c: { v4: '10.250.0.3', v6: 'fd00:250::3' },
};
const mount = canRun ? findCgroup2Mount() : { mountPoint: '/sys/fs/cgroup', root: '/' };
const cgRoot = path.join(mount.mountPoint, `hnet-${tag}`);
const cg = { traced: path.join(cgRoot, 'traced'), other: path.join(cgRoot, 'other') };
let www = '';
const children: ChildProcess[] = [];

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

function setupNetwork(): void {
  for (const ns of Object.values(NS)) ip('netns', 'add', ns);
  ip('-n', NS.br, 'link', 'add', 'hnet-test0', 'type', 'bridge');
  ip('-n', NS.br, 'link', 'set', 'hnet-test0', 'up');
  for (const n of ['a', 'b', 'c'] as const) {
    ip('-n', NS.br, 'link', 'add', `v${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS[n]);
    ip('-n', NS.br, 'link', 'set', `v${n}`, 'master', 'hnet-test0', 'up');
    ip('-n', NS[n], 'link', 'set', 'lo', 'up');
    ip('-n', NS[n], 'link', 'set', 'eth0', 'up');
    ip('-n', NS[n], 'addr', 'add', `${IP[n].v4}/24`, 'dev', 'eth0');
    // nodad: the address is usable at once instead of after duplicate detection.
    ip('-n', NS[n], 'addr', 'add', `${IP[n].v6}/64`, 'dev', 'eth0', 'nodad');
  }
}

/** Runs `argv` inside netns `ns` from cgroup `dir` (the shell moves itself there, then execs). */
function runIn(dir: string, ns: string, argv: string[]): Promise<number | null> {
  const quoted = argv.map((a) => `'${a}'`).join(' ');
  const c = spawn('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec ip netns exec ${ns} ${quoted}`], {
    stdio: 'ignore',
  });
  children.push(c);
  return new Promise((r) => c.once('exit', (code) => r(code)));
}

/** bpftrace with the generated program; its raw stdout lines. */
class NetTrace {
  lines: string[] = [];
  private child?: ChildProcess;
  private exited?: Promise<void>;
  stderr = '';

  async start(text: string, env: Record<string, string>): Promise<void> {
    const file = path.join(www, 'net.bt');
    fs.writeFileSync(file, text);
    const child = spawn(BPFTRACE, ['-f', 'json', file], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    children.push(child);
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      const parts = (buf + c).split('\n');
      buf = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (this.stderr += c));
    this.exited = new Promise((r) => child.once('close', () => r()));
    for (let i = 0; i < 300 && !this.lines.some((l) => l.includes('harden:ready')); i++) {
      if (child.exitCode !== null) break;
      await sleep(100);
    }
    if (!this.lines.some((l) => l.includes('harden:ready'))) throw new Error(`bpftrace: ${this.stderr}`);
  }

  async stop(): Promise<void> {
    this.child?.kill('SIGINT');
    await this.exited;
  }
}

d('network-session program (real bpftrace, private netns)', () => {
  const trace = new NetTrace();
  let ids: { traced: string; other: string };
  let records: FlowRecord[] = [];
  let flows: Flow[] = [];
  let table: FlowTable;

  beforeAll(async () => {
    const { dialect } = await dialectUnderTest();
    www = fs.mkdtempSync(path.join(os.tmpdir(), 'hnet-www-'));
    setupNetwork();
    fs.mkdirSync(cg.traced, { recursive: true });
    fs.mkdirSync(cg.other, { recursive: true });
    ids = { traced: cgroupIdOf(cg.traced)!, other: cgroupIdOf(cg.other)! };
    fs.writeFileSync(path.join(www, 'index.html'), 'hello\n');

    const p = networkOnlyProgram(
      { seeds: [{ id: ids.traced, recording: true }], podPrefixes: [] },
      // A and B are traced pods; C is not.
      [IP.a.v4, IP.a.v6, IP.b.v4, IP.b.v6],
      INTERVAL,
      dialect,
    );
    await trace.start(p.text, p.env);

    // The server runs in the untraced cgroup: ingress is attributed by its address, not its cgroup.
    const httpd = spawn('ip', ['netns', 'exec', NS.a, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], {
      stdio: 'ignore',
    });
    children.push(httpd);
    await sleep(300);

    const wget = (url: string) => ['timeout', '5', 'busybox', 'wget', '-q', '-O', '/dev/null', url];
    const nslookup = (server: string) => [
      'timeout',
      '3',
      'busybox',
      'nslookup',
      '-timeout=1',
      'example.com',
      server,
    ];
    // busybox tftp sends with sendto() and an address (nslookup connects, then writes).
    const tftp = (server: string) => [
      'timeout',
      '2',
      'busybox',
      'tftp',
      '-g',
      '-r',
      'x',
      '-l',
      '/dev/null',
      server,
      '69',
    ];
    for (const [dir, ns] of [
      [cg.traced, NS.b],
      [cg.other, NS.c],
    ] as const) {
      const a = IP.a;
      expect(await runIn(dir, ns, wget(`http://${a.v4}/`))).toBe(0);
      expect(await runIn(dir, ns, wget(`http://[${a.v6}]/`))).toBe(0);
      await runIn(dir, ns, wget(`http://${a.v4}:81/`)); // refused: an attempted egress
      await runIn(dir, ns, nslookup(a.v4));
      await runIn(dir, ns, nslookup(a.v6));
      await runIn(dir, ns, tftp(a.v4));
      await runIn(dir, ns, tftp(a.v6));
      // Node's dgram sends with sendmsg().
      const js = `const d=require("dgram").createSocket("udp6");d.send("x",5353,"${a.v6}",()=>d.close())`;
      expect(await runIn(dir, ns, [process.execPath, '-e', js])).toBe(0);
    }
    await sleep(2 * INTERVAL);
    await trace.stop();
    if (process.env.CAPTURE_NET_OUTPUT)
      fs.writeFileSync(process.env.CAPTURE_NET_OUTPUT, trace.lines.join('\n') + '\n');

    records = trace.lines.flatMap(parseNetLine);
    const podOfIP = new Map<string, string>([
      [IP.a.v4, 'server'],
      [IP.a.v6, 'server'],
      [IP.b.v4, 'client'],
      [IP.b.v6, 'client'],
    ]);
    table = new FlowTable({
      now: () => new Date('2025-01-01T00:00:00Z'),
      podOfCgroup: (id) => (id === ids.traced ? 'client' : undefined),
      podOfIP: (addr) => podOfIP.get(addr),
      podIP: (pod, family) => (pod === 'client' ? (family === 4 ? IP.b.v4 : IP.b.v6) : undefined),
    });
    table.add(records);
    flows = table.flows();
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await sleep(200);
    for (const ns of Object.values(NS)) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // never created
      }
    }
    for (const dir of [cg.traced, cg.other, cgRoot]) {
      for (let i = 0; i < 20 && fs.existsSync(dir); i++) {
        try {
          fs.rmdirSync(dir);
        } catch {
          await sleep(100); // a process is still leaving the cgroup
        }
      }
    }
    if (www) fs.rmSync(www, { recursive: true, force: true });
  });

  const find = (f: Partial<Flow>) =>
    flows.filter((x) => Object.entries(f).every(([k, v]) => x[k as keyof Flow] === v));

  test('TCP egress of the traced client, IPv4 and IPv6, by cgroup', () => {
    for (const v of ['v4', 'v6'] as const) {
      expect(
        find({ pod: 'client', direction: 'egress', proto: 'TCP', remoteIP: IP.a[v], remotePort: 80 }),
      ).toEqual([expect.objectContaining({ localIP: IP.b[v], localPort: 0, count: 1 })]);
    }
    // A refused connect is still an attempted egress.
    expect(find({ pod: 'client', direction: 'egress', remoteIP: IP.a.v4, remotePort: 81 })).toHaveLength(1);
  });

  test('TCP ingress of the server, by its address (v4 through a dual-stack listener too)', () => {
    for (const v of ['v4', 'v6'] as const) {
      expect(find({ pod: 'server', direction: 'ingress', proto: 'TCP', remoteIP: IP.b[v] })).toEqual([
        expect.objectContaining({ localIP: IP.a[v], localPort: 80, remotePort: 0, count: 1 }),
      ]);
      // C is untraced, but A is: A's ingress from C is A's.
      expect(find({ pod: 'server', direction: 'ingress', remoteIP: IP.c[v], localPort: 80 })).toHaveLength(1);
    }
  });

  test('UDP egress: DNS over connect(), sendto() and sendmsg(), IPv4 and IPv6', () => {
    for (const v of ['v4', 'v6'] as const) {
      expect(
        find({ pod: 'client', direction: 'egress', proto: 'UDP', remoteIP: IP.a[v], remotePort: 53 }),
      ).toEqual([expect.objectContaining({ localIP: IP.b[v], localPort: 0 })]);
      expect(find({ pod: 'client', proto: 'UDP', remoteIP: IP.a[v], remotePort: 69 })).toHaveLength(1);
    }
    expect(find({ pod: 'client', proto: 'UDP', remoteIP: IP.a.v6, remotePort: 5353 })).toHaveLength(1);
    // TCP/53 was never used: the protocol is part of the flow.
    expect(find({ proto: 'TCP', remotePort: 53 })).toHaveLength(0);
  });

  test('an untraced cgroup produces no flows of its own', () => {
    expect(records.filter((r) => r.cgroup !== undefined && r.cgroup !== ids.traced)).toEqual([]);
    expect(records.filter((r) => r.localIP === IP.c.v4 || r.localIP === IP.c.v6)).toEqual([]);
    expect(table.unattributed).toBe(0);
    expect(flows.filter((f) => f.direction === 'egress' && f.pod !== 'client')).toEqual([]);
  });

  test('flows are aggregated in the kernel, not streamed', () => {
    // Per interval one end-of-print tick (EV_TICK), whatever the traffic; no line per flow.
    const printfs = trace.lines.filter((l) => l.includes('"printf"') && !l.includes(EV_TICK));
    expect(printfs).toHaveLength(1); // only the ready marker
    expect(trace.lines.join('\n')).not.toContain('@nphase');
  });
});

d('network-session program on loopback (the agent runner)', () => {
  const node = canRun ? findCgroup2Mount() : { mountPoint: '/sys/fs/cgroup', root: '/' };
  // A test sub-tree seen as the whole hierarchy: kubelet's cgroupfs layout below it.
  const testRoot = path.posix.join(node.root, `harden-e2e-lo-${tag}`);
  const mount = {
    mountPoint: path.join(node.mountPoint, path.posix.relative(node.root, testRoot)),
    root: testRoot,
  };
  const layout = new CgroupLayout(mount, 'cgroupfs');
  const podUID = randomUUID();
  const container = layout.containerDir(
    'BestEffort',
    podUID,
    `containerd://${randomBytes(32).toString('hex')}`,
  )!;
  const untraced = path.join(mount.mountPoint, 'untraced');
  const events: TraceEvent[] = [];
  let dialect: Dialect;
  let run: BpftraceRun;
  let server: http.Server;
  // One receiver per way of sending, so each record names its path: sendto, connect, sendmsg.
  const udp: Record<'sendto' | 'connect' | 'sendmsg', { socket?: dgram.Socket; received: number }> = {
    sendto: { received: 0 },
    connect: { received: 0 },
    sendmsg: { received: 0 },
  };
  let ids: { traced: string; other: string };
  let records: FlowRecord[] = [];

  const portOf = (s: { address(): AddressInfo | string | null } | undefined) =>
    (s!.address() as AddressInfo).port;
  const client = (dir: string, argv: string) =>
    new Promise<number | null>((resolve) => {
      const c = spawn('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec ${argv}`], { stdio: 'ignore' });
      children.push(c);
      c.once('exit', (code) => resolve(code));
    });

  beforeAll(async () => {
    ({ dialect } = await dialectUnderTest());
    fs.mkdirSync(path.dirname(container), { recursive: true });
    fs.mkdirSync(untraced);
    server = http.createServer((_, res) => res.end('ok\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    for (const u of Object.values(udp)) {
      const socket = dgram.createSocket('udp4');
      socket.on('message', () => u.received++);
      await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
      u.socket = socket;
    }

    const program = networkOnlyProgram(
      { seeds: [], podPrefixes: [layout.podPrefix('BestEffort', podUID)] },
      ['127.0.0.1'],
      INTERVAL,
      dialect,
    );
    run = new BpftraceRun(program, (e) => events.push(e), { binary: BPFTRACE, ...parse });
    await run.start();
    // The container's cgroup is made after the program attached: only cgroup_mkdir can arm it.
    fs.mkdirSync(container);
    ids = { traced: cgroupIdOf(container)!, other: cgroupIdOf(untraced)! };
    for (const dir of [container, untraced]) {
      expect(await client(dir, `busybox wget -q -O /dev/null http://127.0.0.1:${portOf(server)}/`)).toBe(0);
      // busybox tftp sends its request with sendto() and an address; nobody answers.
      const tftp = `busybox tftp -g -r x -l /dev/null 127.0.0.1 ${portOf(udp.sendto.socket)}`;
      await client(dir, `busybox timeout 1 ${tftp}`);
      // Node's dgram: connect() then a send without address; an unconnected send is sendmsg().
      const js =
        `const d=require("dgram").createSocket("udp4"),e=require("dgram").createSocket("udp4");` +
        `d.connect(${portOf(udp.connect.socket)},"127.0.0.1",()=>d.send("x",()=>d.close()));` +
        `e.send("x",${portOf(udp.sendmsg.socket)},"127.0.0.1",()=>e.close())`;
      expect(await client(dir, `${process.execPath} -e '${js}'`)).toBe(0);
    }
    await sleep(3 * INTERVAL);
    await run.stop();
    records = events.flatMap((e) => recordedBy<FlowRecord>('network', e));
  });

  afterAll(async () => {
    await run?.stop();
    server?.close();
    for (const u of Object.values(udp)) u.socket?.close();
    for (const dir of [
      container,
      path.dirname(container),
      path.join(mount.mountPoint, 'kubepods/besteffort'),
      path.join(mount.mountPoint, 'kubepods'),
      untraced,
      mount.mountPoint,
    ]) {
      for (let i = 0; i < 20 && fs.existsSync(dir); i++) {
        try {
          fs.rmdirSync(dir);
        } catch {
          await sleep(100); // a process is still leaving the cgroup
        }
      }
    }
  });

  test('a cgroup made under a target pod after the start is armed', () => {
    const armed = events.filter((e) => e.kind === 'armed');
    expect(armed).toEqual([
      {
        kind: 'armed',
        cgroup: ids.traced,
        path: layout.hierarchyPath(path.relative(mount.mountPoint, container)),
      },
    ]);
  });

  test('its TCP connect is recorded by cgroup; the untraced cgroup has no egress', () => {
    const egress = records.filter((r) => r.direction === 'egress');
    expect(egress).toContainEqual(
      expect.objectContaining({
        cgroup: ids.traced,
        proto: 'TCP',
        localIP: '127.0.0.1',
        remoteIP: '127.0.0.1',
        remotePort: portOf(server),
      }),
    );
    expect(egress.filter((r) => r.cgroup !== ids.traced)).toEqual([]);
  });

  test.each(['sendto', 'connect', 'sendmsg'] as const)('its UDP peer is recorded through %s()', (how) => {
    // Both clients' datagrams arrived (tftp retransmits): the sends happened; only the traced one's count.
    expect(udp[how].received).toBeGreaterThanOrEqual(2);
    const peer = records.filter((r) => r.proto === 'UDP' && r.remotePort === portOf(udp[how].socket));
    expect(peer.length).toBeGreaterThan(0); // one record per interval the sends fell into
    for (const r of peer) {
      expect(r).toEqual(
        expect.objectContaining({ cgroup: ids.traced, direction: 'egress', remoteIP: '127.0.0.1' }),
      );
    }
  });

  test('the server side of the connections is recorded by its address', () => {
    const ingress = records.filter((r) => r.direction === 'ingress' && r.localPort === portOf(server));
    for (const r of ingress) {
      expect(r).toEqual(
        expect.objectContaining({ proto: 'TCP', localIP: '127.0.0.1', remoteIP: '127.0.0.1' }),
      );
    }
    // Both clients' connections (one per interval record, or summed in one).
    expect(ingress.reduce((n, r) => n + r.count, 0)).toBe(2);
  });

  test('bpftrace says nothing the agent would report', () => {
    expect(run.stderr).toBe('');
  });
});
