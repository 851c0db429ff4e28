/**
 * Golden files: expected output checked in under test/golden/, compared byte for byte.
 * UPDATE_GOLDEN=1 rewrites them instead; review the diff before committing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const GOLDEN_DIR = path.resolve(__dirname, '..', 'golden');

export function expectGolden(relPath: string, actual: string): void {
  const file = path.resolve(GOLDEN_DIR, relPath);
  // A golden path must stay inside test/golden, or UPDATE_GOLDEN could overwrite anything.
  if (path.relative(GOLDEN_DIR, file).startsWith('..') || path.isAbsolute(relPath)) {
    throw new Error(`golden path ${relPath} is outside test/golden`);
  }
  if (process.env.UPDATE_GOLDEN === '1') {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, actual);
    return;
  }
  if (!fs.existsSync(file)) {
    throw new Error(
      `golden file test/golden/${relPath} is missing; create it with UPDATE_GOLDEN=1 and review it`,
    );
  }
  expect(actual).toBe(fs.readFileSync(file, 'utf8'));
}

/** Stable, readable JSON for golden files (2-space indent, trailing newline). */
export function goldenJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
