import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processInterrupt } from '../../../lib/cli/context';
import type { Flow } from '../../../lib/agent/recorders/network/types';
import type { KubeObject } from '../../../lib/kube/objects';
import { R } from '../../../lib/kube/paths';
import type { Gap, NodeRecord, TraceSession } from '../../../lib/session/types';
import { agentEntry, clusterWithAgent, FakeInterrupts, runCli, type FakeCluster } from '../fake-cluster';

const flow = (remotePort: number, count: number): Flow => ({
  pod: 'web-1',
  direction: 'egress',
  proto: 'TCP',
  localIP: '10.244.0.5',
  localPort: 0,
  remoteIP: '93.184.216.34',
  remotePort,
  count,
  firstSeen: '2025-01-01T00:00:00Z',
  lastSeen: '2025-01-01T00:00:01Z',
});

/**
 * The agent on node-1: traces at once and has seen one connection; on the stop its final flush
 * (unless `final` is false) carries one more of it and one in its last interval.
 */
function playAgent(
  c: FakeCluster,
  opts: { final?: boolean; onStop?: () => void; gaps?: Gap[]; truncated?: boolean } = {},
) {
  const entry = (final: boolean, flows: Flow[]): NodeRecord =>
    agentEntry(final, {
      flows,
      ...(opts.gaps ? { gaps: opts.gaps } : {}),
      ...(opts.truncated ? { truncated: true } : {}),
    });
  c.hook = (method, _path, obj) => {
    const s = obj as unknown as TraceSession | undefined;
    if (!s || s.kind !== 'TraceSession') return;
    if (method === 'POST') s.status = { phase: 'Tracing', nodes: [entry(false, [flow(443, 2)])] };
    if (method === 'PATCH' && s.spec.state === 'Stopped' && s.status?.phase === 'Tracing') {
      opts.onStop?.();
      if (opts.final !== false)
        s.status = { phase: 'Completed', nodes: [entry(true, [flow(443, 3), flow(80, 1)])] };
    }
  };
}

const tmpLog = () => join(mkdtempSync(join(tmpdir(), 'harden-unit-')), 'net.log');
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('netpol monitor', () => {
  test('--timeout ends it; the final flush is collected, each flow counted once', async () => {
    const c = clusterWithAgent();
    playAgent(c);
    const file = tmpLog();
    const interrupts = new FakeInterrupts();
    const r = await runCli(
      ['netpol', 'monitor', '-n', 'web', '-p', 'web-1', '--output', file, '--timeout', '200ms'],
      c,
      interrupts,
    );
    expect(r.code).toBe(0);
    expect(r.err).toContain('done: 2 flows, 1 peers');
    const flows = lines(file).filter((l) => l.kind === 'flow');
    expect(flows.map((f) => [f.remotePort, f.count])).toEqual([
      [443, 2],
      [443, 1],
      [80, 1],
    ]);
    expect(lines(file)[0]).toMatchObject({ kind: 'header', context: 'fake', cluster: 'fake-cluster' });
    expect(c.sessions()).toEqual([]);
    expect(interrupts.listening).toBe(0);
  });

  test("OpenShift's DNS Service is the log's DNS, with the port its pods answer on behind 53", async () => {
    const c = clusterWithAgent();
    playAgent(c);
    c.put(R.services, {
      metadata: { name: 'dns-default', namespace: 'openshift-dns' },
      spec: {
        clusterIP: '172.30.0.10',
        selector: { 'dns.operator.openshift.io/daemonset-dns': 'default' },
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 'dns-tcp' },
          { name: 'metrics', port: 9154, protocol: 'TCP', targetPort: 'metrics' },
        ],
      },
    } as KubeObject);
    c.put(R.endpointslices, {
      metadata: {
        name: 'dns-default-x1',
        namespace: 'openshift-dns',
        labels: { 'kubernetes.io/service-name': 'dns-default' },
      },
      endpoints: [{ addresses: ['10.128.0.7'] }],
      ports: [
        { name: 'dns', port: 5353, protocol: 'UDP' },
        { name: 'dns-tcp', port: 5353, protocol: 'TCP' },
        { name: 'metrics', port: 9154, protocol: 'TCP' },
      ],
    } as KubeObject);
    const file = tmpLog();
    const r = await runCli(
      ['netpol', 'monitor', '-n', 'web', '-p', 'web-1', '--output', file, '--timeout', '200ms'],
      c,
      new FakeInterrupts(),
    );
    expect(r.code).toBe(0);
    expect(lines(file)[0].dns).toEqual({
      namespace: 'openshift-dns',
      name: 'dns-default',
      selector: { 'dns.operator.openshift.io/daemonset-dns': 'default' },
      ports: [5353],
    });
  });

  test('a gap is named with span and cause, recorded in the log, and exit 1 unless --accept-gaps', async () => {
    const gap: Gap = { from: '2025-01-01T00:00:10Z', to: '2025-01-01T00:00:12.5Z', reason: 'BpftraceExited' };
    const named =
      'warning: node node-1 traced nothing (pods that ran only then are not in the flow log) from 2025-01-01T00:00:10Z to 2025-01-01T00:00:12.5Z (2.5 s): bpftrace exited and was restarted';
    const args = ['netpol', 'monitor', '-n', 'web', '-p', 'web-1', '--timeout', '200ms'];
    const c = clusterWithAgent();
    playAgent(c, { gaps: [gap] });
    const file = tmpLog();
    const r = await runCli([...args, '--output', file], c);
    expect(r.code).toBe(1);
    expect(r.err.split('\n').filter((l) => l === named)).toHaveLength(1);
    expect(r.err).toContain(`the log in ${file} has 1 gap (listed above)`);
    expect(r.err).toContain('--accept-gaps');
    expect(lines(file).filter((l) => l.kind === 'gap')).toEqual([{ kind: 'gap', node: 'node-1', ...gap }]);
    // Its flows are all there still, and report names the gap too.
    expect(lines(file).filter((l) => l.kind === 'flow')).toHaveLength(3);
    const report = await runCli(['netpol', 'report', '--input', file], c);
    expect(report.code).toBe(0);
    expect(report.err).toContain(`note: ${named.replace('warning: ', '')}`);
    expect(report.err).toContain('1 gap in the log: connections made then are not in these policies');

    const accepted = clusterWithAgent();
    playAgent(accepted, { gaps: [gap] });
    const ok = await runCli([...args, '--output', tmpLog(), '--accept-gaps'], accepted);
    expect(ok.code).toBe(0);
    expect(ok.err).toContain(named);
  });

  test('a node that dropped flows beyond its bound is named once, and exit 1 unless --accept-truncated', async () => {
    const args = ['netpol', 'monitor', '-n', 'web', '-p', 'web-1', '--timeout', '200ms'];
    const named = "warning: node node-1's agent dropped flows beyond its bound (2000 unique flows per node)";
    const c = clusterWithAgent();
    playAgent(c, { truncated: true });
    const file = tmpLog();
    const r = await runCli([...args, '--output', file], c);
    expect(r.code).toBe(1);
    expect(r.err.split('\n').filter((l) => l.startsWith(named))).toHaveLength(1);
    expect(r.err).toContain(`the log in ${file} lacks flows that node-1 dropped`);
    expect(r.err).toContain('--accept-truncated');
    expect(lines(file).filter((l) => l.kind === 'flow')).toHaveLength(3);

    const accepted = clusterWithAgent();
    playAgent(accepted, { truncated: true });
    const ok = await runCli([...args, '--output', tmpLog(), '--accept-truncated'], accepted);
    expect(ok.code).toBe(0);
    expect(ok.err).toContain(named);
  });

  test('without --timeout (or with 0) it monitors until Ctrl-C', async () => {
    for (const timeout of [[], ['--timeout', '0']]) {
      const c = clusterWithAgent();
      const interrupts = new FakeInterrupts();
      let stopped = false;
      playAgent(c, { onStop: () => (stopped = true) });
      const run = runCli(
        ['netpol', 'monitor', '-n', 'web', '-p', 'web-1', '--output', tmpLog(), ...timeout],
        c,
        interrupts,
      );
      while (!c.sessions().length) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 400));
      expect({ timeout, stopped }).toEqual({ timeout, stopped: false });
      interrupts.ctrlC();
      const r = await run;
      expect(r.code).toBe(0);
      expect(r.err).toContain('Ctrl-C ends it');
      expect(r.err).not.toMatch(/for Infinity|TimeoutOverflow/);
    }
  });

  test('without every final flush the log is partial: said, and exit 1', async () => {
    const c = clusterWithAgent();
    playAgent(c, { final: false });
    const file = tmpLog();
    const args = ['netpol', 'monitor', '-n', 'web', '-p', 'web-1', '--output', file];
    const r = await runCli([...args, '--timeout', '100ms', '--flush-timeout', '300ms'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`the log in ${file} is partial: no final flush from node-1 within 0.3s`);
    expect(r.err).toContain('--accept-partial');
    // What did arrive is kept, in whole lines.
    expect(lines(file).filter((l) => l.kind === 'flow')).toHaveLength(1);
    expect(c.sessions()).toEqual([]);
  });

  test('--accept-partial accepts it, still with the warning', async () => {
    const c = clusterWithAgent();
    playAgent(c, { final: false });
    const args = ['netpol', 'monitor', '-n', 'web', '-p', 'web-1', '--output', tmpLog(), '--accept-partial'];
    const r = await runCli([...args, '--timeout', '100ms', '--flush-timeout', '300ms'], c);
    expect(r.code).toBe(0);
    expect(r.err).toContain('warning: the log in');
  });

  test('Ctrl-C after --timeout, while waiting for the final flush, is not swallowed: exit 130', async () => {
    const c = clusterWithAgent();
    const interrupts = new FakeInterrupts();
    playAgent(c, { final: false, onStop: () => setTimeout(() => interrupts.ctrlC(), 50) });
    const args = ['netpol', 'monitor', '-n', 'web', '-p', 'web-1', '--output', tmpLog()];
    const r = await runCli([...args, '--timeout', '100ms', '--flush-timeout', '30s'], c, interrupts);
    expect(r.code).toBe(130);
    expect(r.err).toContain('(interrupted while waiting)');
    expect(interrupts.listening).toBe(0);
  });

  test('Ctrl-C before the agents trace exits 130 and leaves neither session nor log', async () => {
    const c = clusterWithAgent();
    const interrupts = new FakeInterrupts();
    c.hook = (method) => {
      if (method === 'POST') setTimeout(() => interrupts.ctrlC(), 50);
    };
    const file = tmpLog();
    const r = await runCli(
      ['netpol', 'monitor', '-n', 'web', '-p', 'web-1', '--output', file],
      c,
      interrupts,
    );
    expect(r.code).toBe(130);
    expect(r.err).toMatch(/interrupted; session "np-\w+" was removed/);
    expect(c.sessions()).toEqual([]);
    expect(existsSync(file)).toBe(false);
  });

  test('its file flag reads as a file, and kubectl flags it ignores are not offered', async () => {
    const help = await runCli(['netpol', 'monitor', '--help'], clusterWithAgent());
    expect(help.out).toMatch(/--output\s+Write the flow log to this file/);
    expect(help.out).not.toMatch(/-o,|Output format|--all-namespaces|-A,/);
    // -o json once wrote a log file named "json".
    const r = await runCli(
      ['netpol', 'monitor', '-n', 'web', '-p', 'web-1', '-o', 'json'],
      clusterWithAgent(),
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain('Unknown argument: o');
    expect(r.connects).toBe(0);
  });

  test('-p and -l together are a usage error before any connection', async () => {
    const r = await runCli(['netpol', 'monitor', '-n', 'web', '-p', 'a', '-l', 'b=c'], clusterWithAgent());
    expect(r.code).toBe(1);
    expect(r.err).toContain('exactly one of -p/--pod, -l/--selector or --all');
    expect(r.connects).toBe(0);
  });
});

describe('Ctrl-C handling of the real process', () => {
  test('an interrupt removes its SIGINT and SIGTERM listeners when disposed', () => {
    const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    const i = processInterrupt();
    expect(process.listenerCount('SIGINT')).toBe(before[0] + 1);
    i.dispose();
    expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).toEqual(before);
  });
});
