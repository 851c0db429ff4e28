// How command lines resolve: yargs finds the verb (aliases included), each verb offers exactly the
// flags it honours, -v takes kubectl's level, and every refusal comes before any connection.
import * as path from 'node:path';
import { GOLDEN_DIR } from '../golden';
import { agentEntry, clusterWithAgent, FakeCluster, runCli } from '../fake-cluster';

const VERIFY_LOG = path.join(GOLDEN_DIR, 'netpol-verify', 'log', 'replay.log.jsonl');
const VERIFY_POLICIES = path.join(GOLDEN_DIR, 'netpol-verify', 'log', 'replay.policies.yaml');

describe('aliases are aliases', () => {
  test.each([
    [['sc', 'list', '-n', 'web']],
    [['-n', 'web', 'sc', 'list']],
    [['securitycontext', 'list', '-n', 'web']],
  ])('%j', async (args) => {
    const r = await runCli(args, clusterWithAgent());
    expect({ code: r.code, err: r.err }).toEqual({
      code: 0,
      err: 'No securitycontext sessions found in namespace "web".\n',
    });
  });

  test('kubectl harden -n web sc stop: flags before the verb reach it', async () => {
    const r = await runCli(['-n', 'web', 'sc', 'stop', 'cap-none'], clusterWithAgent());
    expect(r.code).toBe(1);
    expect(r.err).toContain('capabilities session "cap-none" not found in namespace "web"');
  });
});

describe('a verb group names its own verbs', () => {
  test('bare: the group says what it takes', async () => {
    const r = await runCli(['seccomp'], new FakeCluster());
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      'error: name a seccomp command: start, stop, show, list, delete, install, uninstall, installed, apply or audit\n' +
        "See 'kubectl harden seccomp --help' for usage.\n",
    );
  });

  test('an unknown verb in a group: named, with the nearest', async () => {
    const r = await runCli(['sc', 'stpo'], new FakeCluster());
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      'error: unknown command "stpo" for "kubectl harden securitycontext"\n\n' +
        'Did you mean this?\n\tstop\n\n' +
        "See 'kubectl harden securitycontext --help' for usage.\n",
    );
  });

  test('an unknown top-level verb, after global flags', async () => {
    const r = await runCli(['-v', '2', 'statsu'], new FakeCluster());
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      'error: unknown command "statsu" for "kubectl harden"\n\n' +
        'Did you mean this?\n\tstatus\n\n' +
        "See 'kubectl harden --help' for usage.\n",
    );
  });
});

describe('-v takes its level as kubectl does', () => {
  // An error that is not the user's (a bug) shows its stack only when asked for at debug level.
  const broken = () => {
    const c = clusterWithAgent();
    c.hook = (method) => {
      if (method === 'POST') throw new TypeError('a bug');
    };
    return c;
  };
  const start = ['seccomp', 'start', '-n', 'web', '-p', 'web-1'];

  test.each([[['-v=6']], [['-v', '6']], [['--v=6']], [['--v', '9']]])('%j shows the stack', async (v) => {
    const r = await runCli([...v, ...start], broken());
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error: TypeError: a bug\n\s+at /);
  });

  test.each([[[]], [['-v=5']], [['-v', '2']]])('%j does not', async (v) => {
    const r = await runCli([...v, ...start], broken());
    expect(r.code).toBe(1);
    expect(r.err).toBe('error: a bug\n');
  });

  test.each([
    [['-v'], "flag needs an argument: 'v' in -v"],
    [['-v=x'], 'invalid argument "x" for "-v, --v" flag'],
  ])('%j is a usage error', async (v, message) => {
    const r = await runCli(['version', '--client', ...v], new FakeCluster());
    expect(r.code).toBe(1);
    expect(r.err).toContain(message);
  });
});

describe('a verb offers exactly the flags it honours', () => {
  test.each([
    [['deploy', '-n', 'web', '--dry-run=client']],
    [['undeploy', '-n', 'web']],
    [['status', '-n', 'web']],
    [['version', '--client', '-n', 'web']],
    [['completion', 'bash', '-n', 'web']],
    [['netpol', 'report', '--input', VERIFY_LOG, '-n', 'web']],
    [['netpol', 'report', '--input', VERIFY_LOG, '--context', 'x']],
    [['completion', 'bash', '--kubeconfig', '/k']],
  ])('%j: refused, before any connection, pointing at its help', async (args) => {
    const r = await runCli(args, new FakeCluster());
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/Unknown argument/);
    const verb = args.filter((a) => /^[a-z]+$/.test(a)).slice(0, args[0] === 'netpol' ? 2 : 1);
    expect(r.err).toContain(`See 'kubectl harden ${verb.join(' ')} --help' for usage.`);
    expect(r.connects).toBe(0);
  });

  test('deploy -o json without --dry-run=client is refused: only printing takes a format', async () => {
    const r = await runCli(['deploy', '-o', 'json'], new FakeCluster());
    expect(r.code).toBe(1);
    expect(r.err).toContain('-o/--output prints the objects: it needs --dry-run=client');
    expect(r.connects).toBe(0);
    const printed = await runCli(['deploy', '--dry-run=client', '-o', 'json'], new FakeCluster());
    expect(printed.code).toBe(0);
    expect(JSON.parse(printed.out)).toMatchObject({ kind: 'List' });
  });

  test('the verbs that connect keep kubectl connection flags; -n where a namespace counts', async () => {
    for (const [verb, namespaced] of [
      [['deploy'], false],
      [['status'], false],
      [['seccomp', 'stop'], true],
      [['sc', 'list'], true],
      [['netpol', 'monitor'], true],
      [['netpol', 'verify'], true],
    ] as const) {
      const r = await runCli([...verb, '--help'], new FakeCluster());
      expect({ verb, context: /--context/.test(r.out) }).toEqual({ verb, context: true });
      expect({ verb, namespace: /-n, --namespace/.test(r.out) }).toEqual({ verb, namespace: namespaced });
    }
  });
});

describe('--timeout has one meaning: how long the verb waits; 0 (or 0s) is no limit', () => {
  test('0 and 0s are the same: no limit, so a start waits for the agents as long as it takes', async () => {
    for (const zero of ['0', '0s']) {
      const c = clusterWithAgent();
      // The agent takes 300 ms to trace: any finite default near 0 would give up first.
      c.hook = (method, _p, obj) => {
        const s = obj as unknown as { kind?: string; status?: unknown };
        if (method === 'POST' && s?.kind === 'TraceSession')
          setTimeout(() => {
            const live = c.session('web', 'sc-t');
            if (live) live.status = { phase: 'Tracing', nodes: [agentEntry(false)] };
          }, 300);
      };
      const r = await runCli(
        ['seccomp', 'start', '-n', 'web', '-p', 'web-1', '--name', 'sc-t', '--timeout', zero],
        c,
      );
      expect({ zero, code: r.code, out: r.out }).toEqual({ zero, code: 0, out: 'sc-t\n' });
    }
  });

  test('a malformed duration is a usage error before any connection', async () => {
    const r = await runCli(
      ['seccomp', 'stop', 'x', '-n', 'web', '--timeout', '5 minutes'],
      clusterWithAgent(),
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain('invalid duration "5 minutes"');
    expect(r.connects).toBe(0);
  });

  test.each([
    [['deploy']],
    [['undeploy']],
    [['seccomp', 'start']],
    [['sc', 'stop']],
    [['netpol', 'monitor']],
  ])('%j --help says it', async (verb) => {
    const r = await runCli([...verb, '--help'], new FakeCluster());
    expect(r.out).toMatch(/--timeout\s+How long to wait [^;]+; 0: no\s+limit/);
  });
});

describe('netpol verify', () => {
  test('its exit code is returned, not left in a global for the next command', async () => {
    const denied = await runCli(
      ['netpol', 'verify', '--input', VERIFY_LOG, '-f', VERIFY_POLICIES],
      new FakeCluster(),
    );
    expect(denied.code).toBe(1);
    const after = await runCli(['version', '--client'], new FakeCluster());
    expect(after.code).toBe(0);
    expect(process.exitCode).toBeUndefined();
  });
});
