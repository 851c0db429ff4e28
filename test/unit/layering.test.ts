// The layering eslint.config.mjs enforces (lib/cli on top, lib/kube under lib/session, a pure core
// that touches nothing of the world); these cases prove the rules bite, for static imports and for
// import() alike (a rule that matches nothing would let every leak through silently).
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** `text` at `file`: a module that imports each of `specifiers`, statically or with import(). */
function importing(file: string, specifiers: string[], dynamic: boolean): [string, string] {
  const up = file.split('/').length === 2 ? './' : '../';
  const spec = (s: string) => s.replace(/^~\//, up);
  const code = dynamic
    ? `export const load = () => Promise.all([${specifiers.map((s) => `import('${spec(s)}')`).join(', ')}]);\n`
    : specifiers.map((s, i) => `import * as m${i} from '${spec(s)}';`).join('\n') +
      `\nexport const x = [${specifiers.map((_, i) => `m${i}`).join(', ')}];\n`;
  return [file, code];
}

const LOWER = ['lib/x.ts', 'lib/kube/x.ts', 'lib/session/x.ts', 'lib/agent/x.ts'];
const PURE = ['lib/seccomp/x.ts', 'lib/netpol/x.ts', 'lib/deploy/x.ts', 'lib/securitycontext/x.ts'];
/** What the pure core may not import: each names a different rule's target. */
const WORLD = [
  'node:fs',
  'node:http',
  'node:net',
  'node:child_process',
  '@kubernetes/client-node',
  '~/kube/client',
];

const at = (file: string, variant: string) => file.replace('x.ts', `${variant}.ts`);
const cases: [string, string][] = [
  ...[...LOWER, ...PURE].flatMap((f) => [
    importing(f, ['~/cli/errors'], false),
    importing(at(f, 'dyn-cli'), ['~/cli/errors'], true),
  ]),
  ...PURE.flatMap((f) => [
    importing(at(f, 'world'), [...WORLD, '~/kube/objects', '~/ip'], false),
    importing(at(f, 'dyn-world'), [...WORLD, '~/kube/objects'], true),
  ]),
  importing('lib/kube/up.ts', ['~/session/client', '~/agent/main'], false),
  importing('lib/kube/dyn-up.ts', ['~/session/client'], true),
  importing('lib/cli/x.ts', ['~/errors', '~/kube/client', '~/session/client'], false),
  importing('lib/agent/world.ts', ['node:fs', 'node:child_process', '~/kube/client'], false),
  ['lib/agent/core/x.ts', "import { RECORDERS } from '../recorders';\nexport const x = RECORDERS;\n"],
  ['lib/agent/core/y.ts', "import { syscalls } from '../recorders/syscalls';\nexport const x = syscalls;\n"],
  importing('lib/agent/core/dyn.ts', ['../recorders/syscalls'], true),
  [
    'lib/agent/recorders/kind/x.ts',
    "import { network } from '../network';\nimport { RECORDERS } from '../index';\nexport const x = [network, RECORDERS];\n",
  ],
  [
    'lib/agent/recorders/kind/y.ts',
    "import { probesOf } from '../../core/program';\nimport { z } from './z';\nimport type { Gap } from '../../../session/types';\nexport const x = [probesOf, z];\nexport type G = Gap;\n",
  ],
  importing('lib/agent/recorders/kind/dyn.ts', ['../network'], true),
];

/** no-restricted-imports and no-restricted-syntax messages per file, from one ESLint run (in a child: the config is ESM). */
function lint(): Record<string, string[]> {
  const script = `
    const { ESLint } = require('eslint');
    const cases = JSON.parse(process.argv[1]);
    (async () => {
      const eslint = new ESLint({ cwd: process.cwd() });
      const out = {};
      for (const [filePath, code] of cases) {
        const [r] = await eslint.lintText(code, { filePath });
        out[filePath] = r.messages
          .filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax')
          .map((m) => m.message);
      }
      process.stdout.write(JSON.stringify(out));
    })();`;
  return JSON.parse(
    execFileSync(process.execPath, ['-e', script, JSON.stringify(cases)], { cwd: ROOT, encoding: 'utf8' }),
  ) as Record<string, string[]>;
}

let found: Record<string, string[]>;
beforeAll(() => {
  found = lint();
}, 60_000);

describe('layering (eslint no-restricted-imports and import())', () => {
  test.each([...LOWER, ...PURE].flatMap((f) => [[f], [at(f, 'dyn-cli')]]))(
    '%s may not import lib/cli',
    (file) => {
      expect(found[file]).toEqual([expect.stringMatching(/lib\/cli is the top layer/)]);
    },
  );

  test.each(PURE.flatMap((f) => [[at(f, 'world')], [at(f, 'dyn-world')]]))(
    '%s (the pure core) touches neither files, sockets, processes nor the cluster client',
    (file) => {
      // One message per forbidden import; lib/kube/objects (data) and lib/ip (pure) are allowed.
      expect(found[file]).toHaveLength(WORLD.length);
      expect(found[file].filter((m) => /files and sockets/.test(m))).toHaveLength(2);
      expect(found[file].filter((m) => /no sockets or processes/.test(m))).toHaveLength(2);
      expect(found[file].filter((m) => /talks to no cluster/.test(m))).toHaveLength(2);
    },
  );

  test.each([['lib/kube/up.ts'], ['lib/kube/dyn-up.ts']])(
    '%s: lib/kube never imports the session or agent',
    (file) => {
      expect(found[file].length).toBeGreaterThan(0);
      for (const m of found[file]) expect(m).toMatch(/lib\/kube is the API client/);
    },
  );

  test.each(['lib/agent/core/x.ts', 'lib/agent/core/y.ts', 'lib/agent/core/dyn.ts'])(
    '%s (the agent core) imports no recorder, not even the registry',
    (file) => {
      expect(found[file]).toEqual([expect.stringMatching(/core knows recorders only through/)]);
    },
  );

  test('a recorder imports neither another recorder nor the registry; the core, its own folder and lib are fine', () => {
    expect(found['lib/agent/recorders/kind/x.ts']).toEqual([
      expect.stringMatching(/imports the core and its own folder only/),
      expect.stringMatching(/imports the core and its own folder only/),
    ]);
    expect(found['lib/agent/recorders/kind/y.ts']).toEqual([]);
    expect(found['lib/agent/recorders/kind/dyn.ts']).toEqual([
      expect.stringMatching(/imports the core and its own folder only/),
    ]);
  });

  test('the CLI and the agent may use what they need', () => {
    expect(found['lib/cli/x.ts']).toEqual([]);
    expect(found['lib/agent/world.ts']).toEqual([]);
  });
});
