import yargs from 'yargs/yargs';
import { addGlobalFlags } from '../../../lib/cli/flags';
import { buildParser, usageMessage } from '../../../lib/cli/main';
import { parseDuration } from '../../../lib/duration';
import { HardenError } from '../../../lib/errors';

const parse = (args: string[]) => addGlobalFlags(yargs(args)).exitProcess(false).parseSync();

describe('global flags, spelled as kubectl spells them', () => {
  test('short and long forms', () => {
    const a = parse(['-n', 'web', '-A', '-o', 'json', '--context', 'ctx', '--kubeconfig', '/k', '-v', '6']);
    expect(a).toMatchObject({
      namespace: 'web',
      allNamespaces: true,
      output: 'json',
      context: 'ctx',
      kubeconfig: '/k',
      v: 6,
    });
  });

  test('--flag=value forms', () => {
    const a = parse([
      '--namespace=web',
      '--output=yaml',
      '--request-timeout=30s',
      '--cluster=c',
      '--user=u',
      '-v=4',
    ]);
    expect(a).toMatchObject({
      namespace: 'web',
      output: 'yaml',
      requestTimeout: '30s',
      cluster: 'c',
      user: 'u',
      v: 4,
    });
  });

  test('flags after the verb reach the command', async () => {
    const seen: Record<string, unknown>[] = [];
    await buildParser(['version', '--client', '-o', 'json', '-n', 'x'])
      .command('ignored', 'not used', {}, () => undefined)
      .middleware((argv) => void seen.push(argv))
      .parseAsync()
      .catch(() => undefined);
    expect(seen[0]).toMatchObject({ client: true, output: 'json', namespace: 'x' });
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

describe('durations', () => {
  test.each([
    ['30s', 30_000],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['500ms', 500],
    ['15', 15_000],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  test('0 and empty mean no timeout', () => {
    expect(parseDuration('0')).toBeUndefined();
    expect(parseDuration(undefined)).toBeUndefined();
  });

  test('garbage is an error that says what a duration looks like', () => {
    expect(() => parseDuration('soon')).toThrow(HardenError);
    expect(() => parseDuration('5x')).toThrow(/invalid duration "5x"/);
  });
});
