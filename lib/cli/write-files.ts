/**
 * Writing a set of result files all or nothing: each goes to a temporary beside it first and all
 * are renamed at the end, so a failure (a full disk, a name taken) leaves no half-written set.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HardenError } from '../errors';

export interface OutputFile {
  name: string;
  text: string;
}

/** Writes every file into dir (which must exist) or none; returns their absolute paths. */
export async function writeFilesAtomically(dir: string, files: readonly OutputFile[]): Promise<string[]> {
  const staged: { tmp: string; final: string }[] = [];
  try {
    for (const { name, text } of files) {
      const final = resolve(join(dir, name));
      const tmp = join(dir, `.${name}.${process.pid}.tmp`);
      await writeFile(tmp, text, { flag: 'wx' });
      staged.push({ tmp, final });
    }
    for (const s of staged) await rename(s.tmp, s.final);
  } catch (e) {
    await Promise.all(staged.map((s) => rm(s.tmp, { force: true })));
    throw new HardenError(`cannot write into ${dir}: ${(e as Error).message}`);
  }
  return staged.map((s) => s.final);
}
