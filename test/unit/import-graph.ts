// The import graph of lib's TypeScript, read from the source (static imports, re-exports and
// dynamic import(); type-only imports count: they are dependencies of the design all the same).
import * as fs from 'node:fs';
import * as path from 'node:path';

export const LIB = path.resolve(__dirname, '..', '..', 'lib');

export function sources(dir: string): string[] {
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

/** The files under `root` → the files under `root` each imports. */
export function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(root)) {
    const deps = specifiers(fs.readFileSync(file, 'utf8'))
      .map((s) => resolve(file, s))
      .filter((f): f is string => f !== undefined && f.startsWith(`${root}/`));
    graph.set(file, [...new Set(deps)]);
  }
  return graph;
}

/** Every cycle found by a depth-first walk, each as the files around it. */
export function cycles(graph: Map<string, string[]>, root: string): string[][] {
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
  return out.map((c) => c.map((f) => path.relative(root, f)));
}
