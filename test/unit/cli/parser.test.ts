import { buildParser } from '../../../lib/cli/parser';
import { VERSION } from '../../../lib/version';
import { FakeCluster, runCli } from '../fake-cluster';

/** The parsed flags of a command line ending in --help (which runs no handler; its text is not wanted here). */
async function parse(args: string[]) {
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    return await buildParser(args).parseAsync(args);
  } finally {
    log.mockRestore();
  }
}

describe('connection flags, spelled as kubectl spells them', () => {
  test('short and long forms reach the verb', async () => {
    const a = await parse([
      'sc',
      'list',
      '-n',
      'web',
      '--context',
      'ctx',
      '--kubeconfig',
      '/k',
      '-v',
      '6',
      '--help',
    ]);
    expect(a).toMatchObject({ namespace: 'web', context: 'ctx', kubeconfig: '/k', v: 6 });
  });

  test('--flag=value forms', async () => {
    const args = ['status', '--request-timeout=30s', '--cluster=c', '--user=u', '-v=4', '--help'];
    expect(await parse(args)).toMatchObject({ requestTimeout: '30s', cluster: 'c', user: 'u', v: 4 });
  });

  test('flags after the verb reach the command', async () => {
    const r = await runCli(['version', '--client', '-o', 'json'], new FakeCluster());
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ clientVersion: { version: VERSION } });
    expect(r.connects).toBe(0);
  });

  test('-o and -A are not global: only the verbs that use them take them', async () => {
    for (const args of [
      ['deploy', '-A'],
      ['undeploy', '-o', 'json'],
      ['seccomp', 'start', '-p', 'x', '-A'],
    ]) {
      const r = await runCli(args, new FakeCluster());
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.err).toMatch(/Unknown argument/);
      expect(r.connects).toBe(0);
    }
  });
});

describe('usage errors', () => {
  test('an unknown flag is refused, with the help to read', async () => {
    const r = await runCli(['version', '--bogus'], new FakeCluster());
    expect(r.code).toBe(1);
    expect(r.err).toBe("error: Unknown argument: bogus\nSee 'kubectl harden version --help' for usage.\n");
  });

  test('no verb at all names the commands', async () => {
    const r = await runCli([], new FakeCluster());
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^error: name a command: deploy, undeploy, status, seccomp, securitycontext, netpol, record, apply, version or completion\n/,
    );
  });
});
