// Bundles the two entry points into self-contained CommonJS files (.cjs, so a user's package.json
// "type" cannot change how Node loads them). Only Node built-ins stay external.
import { build } from 'esbuild';
import { chmodSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';

// Optional add-ons that ws (native speed-ups) and node-fetch (`encoding`) probe inside try/catch
// and work without. They become a module that throws MODULE_NOT_FOUND, so no require() of them is
// left in the bundle: under node it would load whatever node_modules holds, and inside the single
// executable (whose require() loads built-ins only) it prints a warning on stderr.
const OPTIONAL = ['bufferutil', 'utf-8-validate', 'encoding'];
const absentOptional = {
  name: 'absent-optional',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${OPTIONAL.join('|')})$`) }, (args) => ({
      path: args.path,
      namespace: 'absent-optional',
    }));
    b.onLoad({ filter: /.*/, namespace: 'absent-optional' }, (args) => ({
      contents: `throw Object.assign(new Error("Cannot find module '${args.path}'"), { code: 'MODULE_NOT_FOUND' });`,
      loader: 'js',
    }));
  },
};

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
  plugins: [absentOptional],
};

const entries = [
  ['cmd/kubectl-harden.ts', 'dist/kubectl-harden.cjs'],
  ['cmd/harden-agent.ts', 'dist/harden-agent.cjs'],
];
for (const [entry, outfile] of entries) {
  const result = await build({ ...common, entryPoints: [entry], outfile });
  const external = Object.values(result.metafile.outputs)
    .flatMap((o) => o.imports)
    .filter((i) => i.external && !isBuiltin(i.path));
  if (external.length)
    throw new Error(
      `${outfile} requires non-built-in modules at run time: ${external.map((i) => i.path).join(', ')}`,
    );
  chmodSync(outfile, 0o755);
}
