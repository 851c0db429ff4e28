import yargs from 'yargs/yargs';
import { addGlobalFlags } from '../../../lib/cli/flags';
import { buildParser, usageMessage } from '../../../lib/cli/main';
import { VERSION } from '../../../lib/version';
import { FakeCluster, runCli } from '../fake-cluster';

const parse = (args: string[]) => addGlobalFlags(yargs(args)).exitProcess(false).parseSync();

describe('global flags, spelled as kubectl spells them', () => {
  test('short and long forms', () => {
    const a = parse(['-n', 'web', '--context', 'ctx', '--kubeconfig', '/k', '-v', '6']);
    expect(a).toMatchObject({ namespace: 'web', context: 'ctx', kubeconfig: '/k', v: 6 });
  });

  test('--flag=value forms', () => {
    const a = parse(['--namespace=web', '--request-timeout=30s', '--cluster=c', '--user=u', '-v=4']);
    expect(a).toMatchObject({ namespace: 'web', requestTimeout: '30s', cluster: 'c', user: 'u', v: 4 });
  });

  test('flags after the verb reach the command', async () => {
    const r = await runCli(['version', '--client', '-o', 'json', '-n', 'x'], new FakeCluster());
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

// yargs' fail handler throws synchronously; wrap it so both paths become a rejection.
const run = async (args: string[]) => buildParser(args).parseAsync();

describe('usage errors', () => {
  test('an unknown verb names it and suggests the nearest', async () => {
    await expect(run(['statsu'])).rejects.toThrow(/Did you mean status\?/);
    expect(usageMessage(['-n', 'web', 'statsu'], 'Did you mean status?')).toBe(
      'unknown command "statsu" for "kubectl harden"\nDid you mean status?',
    );
  });

  test('an unknown flag is refused', async () => {
    await expect(run(['version', '--bogus'])).rejects.toThrow(/Unknown argument: bogus/);
  });

  test('no verb at all asks for one', async () => {
    await expect(run([])).rejects.toThrow(/Name a command/);
  });
});
