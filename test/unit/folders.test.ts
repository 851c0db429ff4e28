// DESIGN §7's layers, read from the source: lib's folders import each other in no cycle (a folder
// that needs another's names takes them from a module both can import).
import * as path from 'node:path';
import { cycles, importGraph, LIB } from './import-graph';

/** lib/<folder>/… → its folder; a file directly in lib is its own. */
const folderOf = (file: string) => path.relative(LIB, file).split(path.sep)[0];

test("lib's folders import each other in no cycle", () => {
  const folders = new Map<string, string[]>();
  for (const [file, deps] of importGraph(LIB)) {
    const from = path.join(LIB, folderOf(file));
    const to = deps.map((d) => path.join(LIB, folderOf(d))).filter((d) => d !== from);
    folders.set(from, [...new Set([...(folders.get(from) ?? []), ...to])]);
  }
  expect(cycles(folders, LIB)).toEqual([]);
});
