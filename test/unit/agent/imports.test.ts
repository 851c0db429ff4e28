// The agent's shape (DESIGN §7), checked on its source: the import graph of lib/agent has no cycle
// (type-only imports count: they are dependencies of the design all the same), and the core names
// no kind of session (the recorders' types appear in no string of lib/agent/core).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RECORDERS } from '../../../lib/agent/recorders';

const AGENT = path.resolve(__dirname, '..', '..', '..', 'lib', 'agent');

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? sources(path.join(dir, e.name))
        : e.name.endsWith('.ts')
          ? [path.join(dir, e.name)]
          : [],
    );
}

/** Relative specifiers of a file's static imports, re-exports and dynamic imports. */
function specifiers(text: string): string[] {
  const found = [
    ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gms),
    ...text.matchAll(/^\s*import\s+'([^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
  ];
  return found.map((m) => m[1]).filter((s) => s.startsWith('.'));
}

function resolve(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  return [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
}

/** lib/agent's files → the lib/agent files each imports. */
function agentGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(AGENT)) {
    const deps = specifiers(fs.readFileSync(file, 'utf8'))
      .map((s) => resolve(file, s))
      .filter((f): f is string => f !== undefined && f.startsWith(`${AGENT}/`));
    graph.set(file, [...new Set(deps)]);
  }
  return graph;
}

/** Every cycle found by a depth-first walk, each as the files around it. */
function cycles(graph: Map<string, string[]>): string[][] {
  const out: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 'open') out.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return out.map((c) => c.map((f) => path.relative(AGENT, f)));
}

describe('lib/agent as DESIGN §7 draws it', () => {
  const graph = agentGraph();

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
    expect(cycles(graph)).toEqual([]);
  });

  test('the walk would find one', () => {
    const a = path.join(AGENT, 'a.ts');
    const b = path.join(AGENT, 'b.ts');
    expect(
      cycles(
        new Map([
          [a, [b]],
          [b, [a]],
        ]),
      ),
    ).toEqual([['a.ts', 'b.ts', 'a.ts']]);
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
