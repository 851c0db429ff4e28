import { closeSync, fstatSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isAscii } from 'node:buffer';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/**
 * Runs a CommonJS bundle from V8's code cache, as Node's own loader would run it but without
 * compiling it first: V8 spends a third of the CLI's start-up compiling its half megabyte, and
 * Node 20 has no compile cache of its own (module.enableCompileCache is Node 22).
 *
 * The cache file starts with one line naming the size and modification time of the bundle it was
 * made from (as a .pyc names its .py); V8 checks its own version, flags and the source length. A
 * cache that is missing, stale or refused is ignored, silently: the bundle is compiled as usual.
 * Returns which it was, for tests.
 */
export function runCached(
  file: string,
  cacheFile: string,
  opts: { record?: boolean } = {},
): 'used' | 'refused' | 'none' {
  const fd = openSync(file, 'r');
  let source: string;
  let stamp: string;
  try {
    const st = fstatSync(fd);
    stamp = `${st.size}:${st.mtimeMs}\n`;
    const bytes = readFileSync(fd);
    // esbuild writes ASCII: read as such, that is without decoding UTF-8, it costs a copy.
    source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  } finally {
    closeSync(fd);
  }
  const cachedData = opts.record ? undefined : cacheFor(cacheFile, stamp);
  // Node's own CommonJS wrapper, so the bundle sees exactly what require() would give it.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
  });
  if (opts.record)
    // At exit the cache also holds the functions the run compiled lazily, not only the top level.
    process.once('exit', () => {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([Buffer.from(stamp), script.createCachedData()]));
      renameSync(tmp, cacheFile);
    });
  const mod = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void).call(
    mod.exports,
    mod.exports,
    require,
    mod,
    file,
    dirname(file),
  );
  return cachedData === undefined ? 'none' : script.cachedDataRejected ? 'refused' : 'used';
}

function cacheFor(cacheFile: string, stamp: string): Buffer | undefined {
  let data: Buffer;
  try {
    data = readFileSync(cacheFile);
  } catch {
    return undefined; // none: compile as usual
  }
  return data.subarray(0, stamp.length).toString('latin1') === stamp
    ? data.subarray(stamp.length)
    : undefined;
}
