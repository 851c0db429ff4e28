// npm scripts are entry points users and CI type; each must name something that exists.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { load } from 'js-yaml';
import { FakeCluster, runCli } from './fake-cluster';

const ROOT = path.resolve(__dirname, '..', '..');
const scripts = (
  JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts;

describe('package.json scripts', () => {
  test.each(Object.entries(scripts))('%s runs files that exist', (_name, command) => {
    const files = [...command.matchAll(/(?:^|\s)((?:scripts|cmd|lib)\/[^\s&|;]+)/g)].map((m) => m[1]);
    for (const file of files) {
      expect({ file, exists: existsSync(path.join(ROOT, file)) }).toEqual({ file, exists: true });
      // Run directly (not through node): it must be executable.
      if (command.trimStart().startsWith(file)) accessSync(path.join(ROOT, file), constants.X_OK);
    }
  });

  test('npm test is the one test command', () => {
    expect(scripts.test).toBe('scripts/test');
  });
});

describe('what the project says of itself', () => {
  const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');

  test('names no file outside the repository (a reader of a clone has only the clone)', () => {
    const files = execFileSync(
      'git',
      ['ls-files', 'README.md', '*.mjs', 'lib', 'cmd', 'scripts', '.github'],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    )
      .split('\n')
      .filter(Boolean);
    const outside = files.filter((f) => /\.\.\/shared\/|\bDESIGN\.md\b/.test(read(f)));
    expect(outside).toEqual([]);
  });

  test('package.json, plugin.yaml and --help name all three results', async () => {
    const pkg = JSON.parse(read('package.json')) as { description: string };
    const plugin = load(read('plugin.yaml')) as { spec: { shortDescription: string; description: string } };
    const help = (await runCli(['--help'], new FakeCluster())).out;
    for (const text of [pkg.description, plugin.spec.shortDescription, plugin.spec.description, help])
      expect(text).toMatch(/seccomp[\s\S]*NetworkPolic[\s\S]*securityContext/i);
  });
});
