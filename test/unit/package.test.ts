// npm scripts are entry points users and CI type; each must name something that exists.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

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
