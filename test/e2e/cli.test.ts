// The bundle as users run it: through a symlink named kubectl-harden, from any folder, even one
// whose nearest package.json says "type": "module" (the .cjs extension keeps it CommonJS).
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cluster';
import { runRaw } from '../support/exec';

test('a kubectl-harden symlink on PATH works from an ESM package folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'harden-esm-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'someone-elses', type: 'module' }));
  mkdirSync(join(dir, 'bin'));
  symlinkSync(join(REPO_ROOT, 'dist', 'kubectl-harden.cjs'), join(dir, 'bin', 'kubectl-harden'));
  const env = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` };
  const r = await runRaw('kubectl-harden', ['version', '--client', '-o', 'json'], { cwd: dir, env });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(r.stdout).clientVersion.version).toMatch(/^\d+\.\d+\.\d+/);
  const help = await runRaw('kubectl-harden', ['--help'], { cwd: dir, env });
  expect(help.stdout).toContain('kubectl harden seccomp');
});
