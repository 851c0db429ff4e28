// The layering DESIGN §7 describes is enforced by eslint.config.mjs; these cases prove the rules
// bite (a rule that matches nothing would let every leak through silently).
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

const cliImport = (file: string) =>
  `import { formatError } from '${file.split('/').length === 2 ? './cli/errors' : '../cli/errors'}';\nexport const x = formatError;\n`;
const worldImports = [
  "import { readFileSync } from 'node:fs';",
  "import { request } from 'node:http';",
  "import { Kube } from '../kube/client';",
  "import { ownerOf } from '../kube/objects';",
  'export const x = [readFileSync, request, Kube, ownerOf];',
  '',
].join('\n');

const LOWER = ['lib/x.ts', 'lib/kube/x.ts', 'lib/session/x.ts', 'lib/agent/x.ts'];
const SYNTHESIS = ['lib/seccomp/x.ts', 'lib/netpol/x.ts', 'lib/deploy/x.ts'];
const cases: [string, string][] = [
  ...[...LOWER, ...SYNTHESIS].map((f): [string, string] => [f, cliImport(f)]),
  ...SYNTHESIS.map((f): [string, string] => [f.replace('x.ts', 'y.ts'), worldImports]),
  ['lib/cli/x.ts', "import { HardenError } from '../errors';\nexport const x = HardenError;\n"],
  ['lib/agent/y.ts', worldImports],
  ['lib/agent/core/x.ts', "import { RECORDERS } from '../recorders';\nexport const x = RECORDERS;\n"],
  ['lib/agent/core/y.ts', "import { syscalls } from '../recorders/syscalls';\nexport const x = syscalls;\n"],
  [
    'lib/agent/recorders/kind/x.ts',
    "import { network } from '../network';\nimport { RECORDERS } from '../index';\nexport const x = [network, RECORDERS];\n",
  ],
  [
    'lib/agent/recorders/kind/y.ts',
    "import { probesOf } from '../../core/program';\nimport { z } from './z';\nimport type { Gap } from '../../../session/types';\nexport const x = [probesOf, z];\nexport type G = Gap;\n",
  ],
];

/** no-restricted-imports messages per file, from one ESLint run (in a child: the config is ESM). */
function lint(): Record<string, string[]> {
  const script = `
    const { ESLint } = require('eslint');
    const cases = JSON.parse(process.argv[1]);
    (async () => {
      const eslint = new ESLint({ cwd: process.cwd() });
      const out = {};
      for (const [filePath, code] of cases) {
        const [r] = await eslint.lintText(code, { filePath });
        out[filePath] = r.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
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

describe('layering (eslint no-restricted-imports)', () => {
  test.each([...LOWER, ...SYNTHESIS])('%s may not import lib/cli', (file) => {
    expect(found[file]).toEqual([expect.stringMatching(/lib\/cli is the top layer/)]);
  });

  test.each(SYNTHESIS.map((f) => f.replace('x.ts', 'y.ts')))(
    '%s (policy synthesis) touches neither files, sockets nor the cluster client',
    (file) => {
      const messages = found[file].join('\n');
      expect(found[file]).toHaveLength(3); // lib/kube/objects is data: allowed
      expect(messages).toMatch(/'node:fs'/);
      expect(messages).toMatch(/'node:http'/);
      expect(messages).toMatch(/'\.\.\/kube\/client'/);
    },
  );

  test.each(['lib/agent/core/x.ts', 'lib/agent/core/y.ts'])(
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
  });

  test('the CLI and the agent may use what they need', () => {
    expect(found['lib/cli/x.ts']).toEqual([]);
    expect(found['lib/agent/y.ts']).toEqual([]);
  });
});
