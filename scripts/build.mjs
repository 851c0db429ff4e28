// Bundles the two entry points into self-contained CommonJS files (.cjs, so a user's package.json
// "type" cannot change how Node loads them). Only Node built-ins stay external.
import { build } from 'esbuild';
import { chmodSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  banner: { js: '#!/usr/bin/env node' },
  define: { __HARDEN_VERSION__: JSON.stringify(process.env.HARDEN_VERSION || pkg.version) },
  logLevel: 'warning',
  metafile: true,
};

// ws probes for these native speed-ups inside try/catch and works without them.
const OPTIONAL = new Set(['bufferutil', 'utf-8-validate']);

const entries = [
  ['cmd/kubectl-harden.ts', 'dist/kubectl-harden.cjs'],
  ['cmd/harden-agent.ts', 'dist/harden-agent.cjs'],
];
for (const [entry, outfile] of entries) {
  const result = await build({ ...common, entryPoints: [entry], outfile });
  const external = Object.values(result.metafile.outputs)
    .flatMap((o) => o.imports)
    .filter((i) => i.external && !/^(node:)?[a-z_/]+$/.test(i.path) && !OPTIONAL.has(i.path));
  if (external.length)
    throw new Error(
      `${outfile} requires non-built-in modules at run time: ${external.map((i) => i.path).join(', ')}`,
    );
  chmodSync(outfile, 0o755);
}
