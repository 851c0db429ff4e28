import { spawnSync } from 'node:child_process';
import { buildSync } from 'esbuild';
import { mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A bundle that reports what it was given, as the CLI bundle would see it under require().
const BUNDLE = `
const path = require('node:path');
globalThis.codeCacheRun = {
  self: this === module.exports,
  file: __filename,
  dir: __dirname,
  builtin: typeof require('node:fs').readFileSync,
  answer: [1, 2, 3].map((x) => x * 2).join(','),
};
module.exports.done = path.basename(__filename);
`;

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'code-cache-'));
  const file = join(dir, 'bundle.cjs');
  writeFileSync(file, BUNDLE);
  return { dir, file, cache: `${file}.v8cache` };
}

/** The launcher's part, bundled as the build bundles it: runCached is run in a fresh process each time. */
function launcher(dir: string): string {
  const out = join(dir, 'launcher.cjs');
  buildSync({
    stdin: {
      contents: `const { runCached } = require(${JSON.stringify(require.resolve('../../../lib/code-cache'))});
        const [file, cache, record] = process.argv.slice(2);
        const cacheUse = runCached(file, cache, { record: record === 'record' });
        process.stdout.write(JSON.stringify({ cacheUse, ran: globalThis.codeCacheRun }));`,
      resolveDir: __dirname,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile: out,
    logLevel: 'error',
  });
  return out;
}

function runChild(run: string, file: string, cache: string, record = false) {
  const r = spawnSync(process.execPath, [run, file, cache, record ? 'record' : ''], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, out: r.stdout ? JSON.parse(r.stdout) : undefined };
}

describe('runCached', () => {
  it('runs the bundle as CommonJS: this, __filename, __dirname and require()', () => {
    const { dir, file, cache } = fixture();
    expect(runChild(launcher(dir), file, cache).out.ran).toEqual({
      self: true,
      file,
      dir,
      builtin: 'function',
      answer: '2,4,6',
    });
  });

  it('records a cache at exit, which the next run uses; a stale or broken one is ignored', () => {
    const { dir, file, cache } = fixture();
    const run = launcher(dir);
    const ok = { status: 0, stderr: '', out: { ran: { answer: '2,4,6' } } };
    expect(runChild(run, file, cache)).toMatchObject({ ...ok, out: { ...ok.out, cacheUse: 'none' } });
    expect(runChild(run, file, cache, true)).toMatchObject(ok);
    expect(readFileSync(cache).toString('latin1')).toMatch(/^\d+:[\d.]+\n/);
    expect(runChild(run, file, cache)).toMatchObject({ ...ok, out: { ...ok.out, cacheUse: 'used' } });

    // Rebuilt: another modification time, so the cache no longer names it.
    const { mtime } = statSync(file);
    utimesSync(file, mtime, new Date(mtime.getTime() + 1000));
    expect(runChild(run, file, cache)).toMatchObject({ ...ok, out: { ...ok.out, cacheUse: 'none' } });

    // Garbage behind a matching stamp: V8 refuses it and compiles the bundle itself.
    const st = statSync(file);
    writeFileSync(cache, `${st.size}:${st.mtimeMs}\nnot a code cache`);
    expect(runChild(run, file, cache)).toMatchObject({ ...ok, out: { ...ok.out, cacheUse: 'refused' } });
  });
});
