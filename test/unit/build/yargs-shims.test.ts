// The stand-ins scripts/build.mjs puts in place of some of yargs' dependencies in the bundle.
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// CommonJS modules, loaded as yargs loads them.
const load = createRequire(__filename);
const shim = (name: string) => load(join(__dirname, '..', '..', '..', 'scripts', 'bundle-shims', name));

type Y18n = {
  __(s: string, ...a: unknown[]): string;
  __n(s: string, p: string, n: number, ...a: unknown[]): string;
  setLocale(l: string): void;
  getLocale(): string;
  updateLocale(o: Record<string, unknown>): void;
};

describe('y18n stand-in', () => {
  // The real y18n as the bundle had it: pointed at yargs' locales directory, which is not there.
  const real = (): Y18n =>
    load('y18n')({ directory: join(mkdtempSync(join(tmpdir(), 'y18n-')), 'locales'), updateFiles: false });
  const lite = (): Y18n => shim('y18n.cjs')({ directory: '/nowhere', updateFiles: false });

  it('says what the real one says without its translation files', () => {
    const script = (y: Y18n) => {
      const out: unknown[] = [y.getLocale()];
      out.push(y.__('Commands:'), y.__('Not enough arguments following: %s', 'x'), y.__('%s [%s]', 'a', 'b'));
      for (const n of [0, 1, 2])
        out.push(
          y.__n('Missing required argument: %s', 'Missing required arguments: %s', n, 'a, b'),
          y.__n('Too many non-option arguments: got %s, maximum of %s', 'Too many: got %s, max %s', n, 3, 1),
          y.__n('%d item', '%d items', n),
        );
      let called = 0;
      out.push(
        y.__('Show help', () => called++),
        called,
      );
      y.updateLocale({
        'Show help': 'Hilfe',
        'Missing required argument: %s': { one: 'Fehlt: %s', other: 'Fehlen: %s' },
      });
      out.push(
        y.__('Show help'),
        y.__n('Missing required argument: %s', 'x', 1, 'a'),
        y.__n('Missing required argument: %s', 'x', 2, 'a'),
      );
      y.setLocale('de_DE');
      out.push(y.getLocale(), y.__('Show help'));
      y.setLocale('en');
      out.push(y.__('Show help'));
      return out;
    };
    expect(script(lite())).toEqual(script(real()));
  });
});

describe('assert stand-in', () => {
  const assert = shim('assert.cjs');

  it('passes what node:assert passes and throws an assertion error otherwise', () => {
    expect(() => assert.strictEqual('string', 'string')).not.toThrow();
    expect(() => assert.notStrictEqual('a', undefined)).not.toThrow();
    expect(() => assert.strictEqual(1, '1')).toThrow(expect.objectContaining({ code: 'ERR_ASSERTION' }));
    expect(() => assert.notStrictEqual(undefined, undefined, 'no package.json')).toThrow('no package.json');
  });
});

describe('package.json lookup and commandDir stand-ins', () => {
  it('finds no package.json, and refuses commandDir with a reason', () => {
    expect(shim('no-package-json.cjs')('/anywhere', () => 'package.json')).toBeUndefined();
    expect(() => shim('no-command-dir.cjs')()).toThrow('register commands explicitly');
  });
});
