// The agent's shape (DESIGN §7), checked on its source: the import graph of lib/agent has no cycle
// (type-only imports count: they are dependencies of the design all the same), and the core names
// no kind of session (the recorders' types appear in no string of lib/agent/core).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RECORDERS } from '../../../lib/agent/recorders';
import { cycles, importGraph, LIB } from '../import-graph';

const AGENT = path.join(LIB, 'agent');

describe('lib/agent as DESIGN §7 draws it', () => {
  const graph = importGraph(AGENT);

  test('the graph is read: the controller depends on the tracer, each recorder on the core', () => {
    const deps = (f: string) => (graph.get(path.join(AGENT, f)) ?? []).map((d) => path.relative(AGENT, d));
    expect(deps('core/controller.ts')).toContain('core/tracer.ts');
    for (const r of ['syscalls', 'network', 'privileges']) {
      expect(deps(`recorders/${r}/index.ts`)).toContain('core/recorder.ts');
    }
    expect(deps('recorders/index.ts')).toEqual(
      expect.arrayContaining(['recorders/syscalls/index.ts', 'recorders/network/index.ts']),
    );
  });

  test('its imports have no cycle', () => {
    expect(cycles(graph, AGENT)).toEqual([]);
  });

  test('the walk would find one', () => {
    const a = path.join(AGENT, 'a.ts');
    const b = path.join(AGENT, 'b.ts');
    const loop = new Map([
      [a, [b]],
      [b, [a]],
    ]);
    expect(cycles(loop, AGENT)).toEqual([['a.ts', 'b.ts', 'a.ts']]);
  });

  test('the core imports no recorder and names no kind of session', () => {
    for (const [file, deps] of graph) {
      if (!file.startsWith(path.join(AGENT, 'core'))) continue;
      expect(deps.filter((d) => d.startsWith(path.join(AGENT, 'recorders')))).toEqual([]);
      const text = fs.readFileSync(file, 'utf8');
      for (const { type } of RECORDERS) {
        expect({ file: path.relative(AGENT, file), named: text.includes(`'${type}'`) }).toEqual({
          file: path.relative(AGENT, file),
          named: false,
        });
      }
    }
  });
});
