import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { InstallController } from '../../../lib/agent/installs/controller';
import { ProfileStore } from '../../../lib/agent/installs/store';
import { R } from '../../../lib/kube/paths';
import type { ContainerRecord, Gap, NodeRecord, TraceSession } from '../../../lib/session/types';
import { agentEntry, clusterWithAgent, FakeInterrupts, runCli, type FakeCluster } from '../fake-cluster';

/** The agent on node-1: traces a new session at once; on the stop, writes its final flush. */
function playAgent(
  c: FakeCluster,
  opts: {
    final?: boolean;
    fail?: string;
    trace?: boolean;
    gaps?: Gap[];
    /** A second container: recorded from the start, or only in the final flush. */
    sidecar?: 'early' | 'late';
    life?: ContainerRecord['life'];
  } = {},
) {
  const container = (name: string): ContainerRecord => ({
    pod: 'web-1',
    podUID: 'uid-web-1',
    workload: 'web',
    container: name,
    containerID: `containerd://${name}`,
    // amd64: read, write, execve, exit_group
    syscalls: [0, 1, 59, 231],
    recordedFromStart: true,
    filterSeen: true,
    ...(opts.gaps ? { gaps: opts.gaps } : {}),
    ...(opts.life ? { life: opts.life } : {}),
  });
  const entry = (final: boolean): NodeRecord =>
    agentEntry(final, {
      containers: [
        container('nginx'),
        ...(opts.sidecar === 'early' || (opts.sidecar === 'late' && final) ? [container('sidecar')] : []),
      ],
    });
  c.hook = (method, _path, obj) => {
    const s = obj as unknown as TraceSession | undefined;
    if (!s || s.kind !== 'TraceSession') return;
    if (method === 'POST') {
      // A refusal every node decides alike (the target's namespace) is session-wide.
      if (opts.fail)
        s.status = {
          phase: 'Failed',
          conditions: [
            {
              type: 'Accepted',
              status: 'False',
              reason: 'TargetOutsideNamespace',
              message: opts.fail,
              lastTransitionTime: '2025-01-01T00:00:00Z',
            },
          ],
        };
      else if (opts.trace !== false) s.status = { phase: 'Tracing', nodes: [entry(false)] };
    }
    if (method === 'PATCH' && s.spec.state === 'Stopped' && s.status?.phase === 'Tracing') {
      const final = opts.final ?? true;
      s.status = { phase: final ? 'Completed' : 'Tracing', nodes: [entry(final)] };
    }
  };
}

describe('seccomp start', () => {
  test.each([
    [['-p', 'web-1', '-l', 'app=web'], 'more than one given'],
    [[], 'exactly one of -p/--pod or -l/--selector'],
  ])('%j is a usage error, found before any connection', async (flags, message) => {
    const c = clusterWithAgent();
    const r = await runCli(['seccomp', 'start', '-n', 'web', ...flags], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain(message);
    expect(r.err).toContain("See 'kubectl harden seccomp start --help' for usage.");
    expect(r.connects).toBe(0);
    expect(c.requests).toEqual([]);
  });

  test('-l takes set-based selectors as kubectl does, into matchLabels and matchExpressions', async () => {
    const c = clusterWithAgent();
    playAgent(c);
    const r = await runCli(
      ['seccomp', 'start', '-n', 'web', '-l', 'app in (web, api),tier!=db,!canary,team', '--name', 'sc-sel'],
      c,
    );
    expect(r.code).toBe(0);
    expect(c.session('web', 'sc-sel')?.spec.target).toEqual({
      selector: {
        matchExpressions: [
          { key: 'app', operator: 'In', values: ['web', 'api'] },
          { key: 'tier', operator: 'NotIn', values: ['db'] },
          { key: 'canary', operator: 'DoesNotExist' },
          { key: 'team', operator: 'Exists' },
        ],
      },
    });
    expect(r.err).toContain('tracing selector app in (web,api),tier notin (db),!canary,team');
  });

  test.each([
    ['app in (web', 'expected ")"'],
    ['app > 1', 'comparisons are not supported'],
    ['app=web,', 'trailing ","'],
    ['x_=y', 'label key "x_"'],
  ])('-l %j is refused before any connection', async (selector, message) => {
    const r = await runCli(['seccomp', 'start', '-n', 'web', '-l', selector], clusterWithAgent());
    expect(r.code).toBe(1);
    expect(r.err).toContain(`invalid selector "${selector}": `);
    expect(r.err).toContain(message);
    expect(r.connects).toBe(0);
  });

  test('creates the session, waits until it traces and prints its id', async () => {
    const c = clusterWithAgent();
    playAgent(c);
    const interrupts = new FakeInterrupts();
    const r = await runCli(
      ['seccomp', 'start', '-n', 'web', '-p', 'web-1', '--name', 'sc-test'],
      c,
      interrupts,
    );
    expect(r).toMatchObject({ code: 0, out: 'sc-test\n' });
    expect(r.err).toContain('kubectl harden seccomp stop sc-test -n web > profile.json');
    expect(c.session('web', 'sc-test')?.spec).toEqual({
      type: 'seccomp',
      target: { podName: 'web-1' },
      state: 'Running',
    });
    expect(interrupts.listening).toBe(0);
  });

  test('the phase is read from every node: one node refusing an open session does not fail it', async () => {
    const c = clusterWithAgent();
    const at = '2025-01-01T00:00:00Z';
    c.hook = (method, _path, obj) => {
      const s = obj as unknown as TraceSession | undefined;
      if (method !== 'POST' || s?.kind !== 'TraceSession') return;
      // node-2 (arm64, no table) refused and wrote phase Failed last; node-1 traces.
      s.status = {
        phase: 'Failed',
        nodes: [
          { ...agentEntry(false), phase: 'Tracing' },
          {
            ...agentEntry(false),
            node: 'node-2',
            arch: 'riscv64',
            phase: 'Failed',
            conditions: [
              {
                type: 'Accepted',
                status: 'False',
                reason: 'UnsupportedArchitecture',
                message: 'node node-2: no syscall table for riscv64',
                lastTransitionTime: at,
              },
            ],
          },
        ],
      };
    };
    const r = await runCli(['seccomp', 'start', '-n', 'web', '-l', 'app=web', '--name', 'sc-mixed'], c);
    expect(r).toMatchObject({ code: 0, out: 'sc-mixed\n' });
    const list = await runCli(['seccomp', 'list', '-n', 'web'], c);
    expect(list.out).toMatch(/sc-mixed\s+web\s+selector app=web\s+Tracing/);
  });

  test('a session the agent refuses is removed, and the reason shown', async () => {
    const c = clusterWithAgent();
    playAgent(c, { fail: 'target namespace is not the session namespace' });
    const r = await runCli(['seccomp', 'start', '-n', 'web', '-p', 'web-1'], c);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/failed: target namespace is not the session namespace/);
    expect(c.sessions()).toEqual([]);
  });

  test('a node whose bpftrace cannot attach fails the start at once, naming node and reason', async () => {
    const c = clusterWithAgent();
    const message = 'ERROR: Could not resolve symbol: /proc/self/exe:BEGIN_trigger\nOperation not permitted';
    c.hook = (method, _path, obj) => {
      const s = obj as unknown as TraceSession | undefined;
      if (method !== 'POST' || s?.kind !== 'TraceSession') return;
      const bpftrace = { type: 'BpftraceReady', status: 'False' as const, reason: 'BpftraceFailed', message };
      const at = '2025-01-01T00:00:00Z';
      s.status = {
        phase: 'Pending',
        nodes: [
          {
            node: 'node-1',
            arch: 'amd64',
            agentVersion: 'test',
            lastFlush: at,
            final: false,
            containers: [],
            conditions: [{ ...bpftrace, lastTransitionTime: at }],
          },
        ],
      };
    };
    const r = await runCli(['seccomp', 'start', '-n', 'web', '-p', 'web-1'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'cannot be traced: bpftrace on node node-1: BpftraceFailed: ERROR: Could not resolve symbol: /proc/self/exe:BEGIN_trigger (…)',
    );
    expect(c.sessions()).toEqual([]);
  });

  test('Ctrl-C while waiting for the agents exits 130 and leaves no session behind', async () => {
    const c = clusterWithAgent();
    playAgent(c, { trace: false });
    const interrupts = new FakeInterrupts();
    const run = runCli(['seccomp', 'start', '-n', 'web', '-p', 'web-1', '--name', 'sc-int'], c, interrupts);
    while (!c.session('web', 'sc-int')) await new Promise((r) => setTimeout(r, 10));
    interrupts.ctrlC();
    const r = await run;
    expect(r.code).toBe(130);
    expect(r.err).toContain('interrupted; session "sc-int" was removed');
    expect(c.sessions()).toEqual([]);
    expect(interrupts.listening).toBe(0);
  });
});

describe('seccomp stop', () => {
  async function started(opts: Parameters<typeof playAgent>[1] = {}) {
    const c = clusterWithAgent();
    playAgent(c, opts);
    expect((await runCli(['seccomp', 'start', '-n', 'web', '-p', 'web-1', '--name', 'sc-1'], c)).code).toBe(
      0,
    );
    return c;
  }

  test('waits for the final flush, prints the profile and removes the session', async () => {
    const c = await started();
    const r = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web'], c);
    expect(r.code).toBe(0);
    const profile = JSON.parse(r.out) as { syscalls: { names: string[] }[] };
    expect(profile.syscalls[0].names).toEqual(
      expect.arrayContaining(['execve', 'exit_group', 'read', 'write']),
    );
    expect(c.sessions()).toEqual([]);
  });

  test('--install NAME puts the profile on the nodes instead of printing it, then removes the session', async () => {
    const c = await started();
    c.put(R.crds, { metadata: { name: 'seccompprofileinstalls.harden.dev' } });
    const root = mkdtempSync(join(tmpdir(), 'seccomp-root-'));
    const store = new ProfileStore(root);
    store.open();
    const agent = new InstallController(c.kube('default'), {
      node: 'node-1',
      arch: 'amd64',
      store,
      log: () => undefined,
    });
    await agent.start();
    const r = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web', '--install', 'web-nginx', '--audit'], c);
    await agent.close();
    expect(r.err).toContain('audit variant (defaultAction SCMP_ACT_LOG) installed on 1 node');
    expect(r).toMatchObject({ code: 0, out: 'harden/web/web-nginx.json\n' });
    const onNode = JSON.parse(readFileSync(join(root, 'harden/web/web-nginx.json'), 'utf8'));
    expect(onNode.defaultAction).toBe('SCMP_ACT_LOG');
    expect(onNode.syscalls[0].names).toEqual(expect.arrayContaining(['execve', 'read']));
    expect(c.sessions()).toEqual([]);
  });

  test('--install with a name that is not one is refused before anything is stopped', async () => {
    const c = await started();
    const r = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web', '--install', '../x'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain('--install ../x: a profile name is a DNS-1123 label');
    expect(c.session('web', 'sc-1')?.spec.state).toBe('Running');
  });

  test('without every final flush in time it fails and keeps the session', async () => {
    const c = await started({ final: false });
    const r = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web', '--timeout', '300ms'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain('no final flush from node-1');
    expect(r.err).toContain('the session is kept');
    expect(r.out).toBe('');
    expect(c.session('web', 'sc-1')?.spec.state).toBe('Stopped');
  });

  test('a shutdown not seen is named with its risk; --require-full-life then prints nothing and keeps the session', async () => {
    const c = await started();
    const named =
      'warning: web/nginx: shutdown (stop signal to exit) not observed: no instance stopped while traced; a profile without its shutdown path';
    const refused = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web', '--require-full-life'], c);
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err).toContain(named);
    expect(refused.err).toContain('(a server that signals its workers needs kill)');
    expect(refused.err).toContain('--require-full-life is set');
    expect(c.session('web', 'sc-1')?.spec.state).toBe('Stopped');
  });

  test('a whole life (rolled out while traced): no warning, and --require-full-life prints the profile', async () => {
    const c = await started({ life: { execProcesses: 0, stopSignals: 1, entrypointExit: 0 } });
    const r = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web', '--require-full-life'], c);
    expect(r.code).toBe(0);
    expect(r.err).not.toContain('not observed');
    expect(JSON.parse(r.out)).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO' });
  });

  test('a gap is named, and without --accept-gaps nothing is printed and the session is kept', async () => {
    const gap: Gap = { from: '2025-01-01T00:00:10Z', to: '2025-01-01T00:00:12.5Z', reason: 'BpftraceExited' };
    const c = await started({ gaps: [gap] });
    const named =
      'warning: web-1/nginx was not traced from 2025-01-01T00:00:10Z to 2025-01-01T00:00:12.5Z (2.5 s): bpftrace exited and was restarted';
    const refused = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web'], c);
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err).toContain(named);
    expect(refused.err).toContain('was not traced throughout (1 gap, listed above)');
    expect(refused.err).toContain('kubectl harden seccomp stop sc-1 -n web --accept-gaps');
    expect(c.session('web', 'sc-1')?.status?.phase).toBe('Completed');
    // Again, on the completed session (as when the agents finished it before this stop ran): the
    // gaps are named again, not "already stopped".
    const again = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web'], c);
    expect(again.code).toBe(1);
    expect(again.err).toContain(named);
    expect(again.err).toContain('kubectl harden seccomp stop sc-1 -n web --accept-gaps');

    const taken = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web', '--accept-gaps'], c);
    expect(taken.code).toBe(0);
    expect(taken.err).toContain(named);
    expect(JSON.parse(taken.out)).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO' });
    expect(c.sessions()).toEqual([]);
  });

  test('-o crd --output-dir writes one SeccompProfile file per container', async () => {
    const c = await started();
    const dir = mkdtempSync(join(tmpdir(), 'harden-unit-'));
    const r = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web', '-o', 'crd', '--output-dir', dir], c);
    expect(r.code).toBe(0);
    expect(readdirSync(dir)).toEqual(['web-web-nginx.yaml']);
    expect(r.out).toBe(`${join(dir, 'web-web-nginx.yaml')}\n`);
    expect(load(readFileSync(join(dir, 'web-web-nginx.yaml'), 'utf8'))).toMatchObject({
      kind: 'SeccompProfile',
      metadata: { name: 'web.web-nginx', namespace: 'web' },
    });
  });

  test('two containers and one JSON profile asked for: refused before stopping, the session runs on', async () => {
    const c = await started({ sidecar: 'early' });
    const r = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web'], c);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain(
      'session "sc-1" recorded 2 containers (web/nginx, web/sidecar): one JSON profile holds one; nothing was stopped',
    );
    expect(r.err).toContain('kubectl harden seccomp stop sc-1 -n web --output-dir DIR');
    expect(c.session('web', 'sc-1')?.spec.state).toBe('Running');
    // As the hint says: the same stop with --output-dir writes both.
    const dir = mkdtempSync(join(tmpdir(), 'harden-unit-'));
    const written = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web', '--output-dir', dir], c);
    expect(written.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['web-web-nginx.json', 'web-web-sidecar.json']);
    expect(c.sessions()).toEqual([]);
  });

  test('a second container seen only in the final flush: kept, and the command that prints it is named', async () => {
    const c = await started({ sidecar: 'late' });
    const r = await runCli(['seccomp', 'stop', 'sc-1', '-n', 'web'], c);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain('session "sc-1" recorded 2 containers (web/nginx, web/sidecar)');
    expect(r.err).toContain('kubectl harden seccomp show sc-1 -n web --output-dir DIR');
    expect(c.session('web', 'sc-1')?.spec.state).toBe('Stopped');
    const dir = mkdtempSync(join(tmpdir(), 'harden-unit-'));
    const shown = await runCli(['seccomp', 'show', 'sc-1', '-n', 'web', '--output-dir', dir], c);
    expect(shown.code).toBe(0);
    expect(readdirSync(dir)).toHaveLength(2);
  });

  test('its help names the -o values it takes, and no others', async () => {
    const r = await runCli(['seccomp', 'stop', '--help'], clusterWithAgent());
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/-o, --output\s+Output format\s+\[string\] \[choices: "json", "crd"\]/);
    expect(r.out).not.toMatch(/table|all-namespaces/);
  });

  test('an -o value it does not take is a usage error, found before any connection', async () => {
    const r = await runCli(['seccomp', 'stop', 'sc-1', '-o', 'yaml'], clusterWithAgent());
    expect(r.code).toBe(1);
    expect(r.err).toContain('Invalid values:');
    expect(r.connects).toBe(0);
  });
});

describe('seccomp delete', () => {
  test('removes kept sessions by id, or all of the namespace; stdout names each, as kubectl delete does', async () => {
    const c = clusterWithAgent();
    playAgent(c);
    for (const name of ['sc-a', 'sc-b', 'sc-c'])
      expect((await runCli(['seccomp', 'start', '-n', 'web', '-p', 'web-1', '--name', name], c)).code).toBe(
        0,
      );
    expect((await runCli(['seccomp', 'stop', 'sc-a', '-n', 'web', '--keep'], c)).code).toBe(0);
    const one = await runCli(['seccomp', 'delete', 'sc-a', '-n', 'web'], c);
    expect(one).toMatchObject({ code: 0, out: 'tracesession.harden.dev "sc-a" deleted\n' });
    const all = await runCli(['seccomp', 'delete', '--all', '-n', 'web'], c);
    expect(all.out).toBe('tracesession.harden.dev "sc-b" deleted\ntracesession.harden.dev "sc-c" deleted\n');
    expect(c.sessions()).toEqual([]);
  });

  test('an unknown id deletes nothing and says how to list them', async () => {
    const c = clusterWithAgent();
    playAgent(c);
    expect((await runCli(['seccomp', 'start', '-n', 'web', '-p', 'web-1', '--name', 'sc-a'], c)).code).toBe(
      0,
    );
    const r = await runCli(['seccomp', 'delete', 'sc-a', 'sc-nope', '-n', 'web'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain('seccomp session "sc-nope" not found in namespace "web"');
    expect(r.err).toContain('kubectl harden seccomp list -A');
    expect(c.sessions()).toHaveLength(1);
  });

  test('neither ids nor --all is a usage error before any connection', async () => {
    const r = await runCli(['seccomp', 'delete', '-n', 'web'], clusterWithAgent());
    expect(r.code).toBe(1);
    expect(r.err).toContain('name the sessions to delete, or pass --all');
    expect(r.connects).toBe(0);
  });
});

describe('profile names in one result', () => {
  test('two workloads whose workload-container names coincide get names of their own, not one overwriting the other', async () => {
    const { seccompResult } = await import('../../../lib/cli/seccomp-result');
    const record = (workload: string, container: string): ContainerRecord => ({
      pod: `${workload}-1`,
      podUID: `uid-${workload}`,
      workload,
      container,
      containerID: `containerd://${workload}-${container}`,
      syscalls: [0, 1, 59, 231],
      recordedFromStart: true,
      filterSeen: true,
    });
    const session = {
      apiVersion: 'harden.dev/v1alpha1',
      kind: 'TraceSession',
      metadata: { name: 'sc-1', namespace: 'web' },
      spec: { type: 'seccomp', state: 'Stopped' },
      status: {
        phase: 'Completed',
        nodes: [
          agentEntry(true, {
            containers: [
              record('api', 'server-proxy'),
              record('api-server', 'proxy'),
              record('web', 'nginx'),
            ],
          }),
        ],
      },
    } as unknown as TraceSession;
    // The seccomp result is made from the session alone; it reads nothing from the cluster.
    const kube = {} as never;
    const crds = await seccompResult.render(session, { output: 'crd', runtime: 'runc' }, kube);
    const names = String(crds.out)
      .split(/^---$/m)
      .map((doc) => (load(doc) as { metadata?: { name: string } } | undefined)?.metadata?.name)
      .filter(Boolean);
    expect(names).toHaveLength(3);
    expect(new Set(names).size).toBe(3);
    expect(names).toContain('web.web-nginx');
    expect(names.filter((n) => /^web\.api-server-proxy-[0-9a-f]{8}$/.test(String(n)))).toHaveLength(2);
    const files = await seccompResult.render(
      session,
      { output: 'json', runtime: 'runc', outputDir: '/x' },
      kube,
    );
    const fileNames = (files.out as { name: string }[]).map((f) => f.name);
    expect(new Set(fileNames).size).toBe(3);
    expect(fileNames).toContain('web-web-nginx.json');
  });
});
