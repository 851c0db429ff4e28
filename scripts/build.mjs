// Bundles the two entry points into self-contained CommonJS files (.cjs, so a user's package.json
// "type" cannot change how Node loads them). Only Node built-ins stay external.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';

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

// What yargs (and its cliui) loads that the CLI does not need as it is; each file says why
// (scripts/bundle-shims).
// Start-up is measured against `node -e 0` (BENCHMARKS.md), and these were a tenth of it.
const YARGS_SHIMS = {
  assert: 'assert.cjs',
  y18n: 'y18n.cjs',
  'escalade/sync': 'no-package-json.cjs',
  'get-caller-file': 'no-command-dir.cjs',
  'require-directory': 'no-command-dir.cjs',
  'string-width': 'string-width.cjs',
};
const YARGS_BUILD = /[\\/]node_modules[\\/]yargs[\\/]build[\\/]index\.cjs$/;
// yargs renders a command's whole help before running its handler, in case the handler calls
// showHelp() later; none does, and the CLI's fail() throws instead of printing help. That
// rendering was half of `version --client`. The call is dropped; the build fails if yargs changes.
const HELP_CACHE = /\w+\|\|\w+\.getInternalMethods\(\)\.getUsageInstance\(\)\.cacheHelpMessage\(\),/g;
const trimYargs = {
  name: 'trim-yargs',
  setup(b) {
    const names = Object.keys(YARGS_SHIMS).map((n) => n.replace('/', '\\/'));
    b.onResolve({ filter: new RegExp(`^(${names.join('|')})$`) }, (args) =>
      /[\\/]node_modules[\\/](yargs|cliui|wrap-ansi)[\\/]/.test(args.importer)
        ? { path: fileURLToPath(new URL(`bundle-shims/${YARGS_SHIMS[args.path]}`, import.meta.url)) }
        : undefined,
    );
    b.onLoad({ filter: YARGS_BUILD }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const found = src.match(HELP_CACHE) ?? [];
      if (found.length !== 1)
        throw new Error(`${args.path}: expected one cacheHelpMessage() call to drop, found ${found.length}`);
      return { contents: src.replace(HELP_CACHE, ''), loader: 'js' };
    });
  },
};

// The Kubernetes client (with node-fetch, whatwg-url's Unicode tables, OIDC…) is ~850 KB, and V8
// pre-parses every byte of a script before running it: that alone doubled `--help`. The plugin
// loads it lazily already; here it is embedded as a string and compiled only when first imported.
const LAZY = ['@kubernetes/client-node/dist/config.js'];
const lazyCompiled = {
  name: 'lazy-compiled',
  setup(b) {
    b.onResolve(
      { filter: new RegExp(`^(${LAZY.map((l) => l.replace(/[./]/g, '\\$&')).join('|')})$`) },
      (args) => ({
        path: args.path,
        namespace: 'lazy-compiled',
        pluginData: { resolveDir: args.resolveDir },
      }),
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-compiled' }, async (args) => {
      const inner = await build({
        ...common,
        banner: undefined,
        metafile: false,
        write: false,
        plugins: [absentOptional],
        stdin: {
          contents: `module.exports = require(${JSON.stringify(args.path)});`,
          resolveDir: args.pluginData.resolveDir,
        },
      });
      const code = inner.outputFiles[0].text;
      // Deflated and base64'd: a third of the bytes to scan, inflated in a few milliseconds on use.
      const wrapped = `(function (exports, require, module) {${code}\n})`;
      const packed = deflateRawSync(wrapped, { level: 9 }).toString('base64');
      return {
        loader: 'js',
        contents: `const m = { exports: {} };
const src = require('node:zlib').inflateRawSync(Buffer.from(${JSON.stringify(packed)}, 'base64')).toString();
require('node:vm').runInThisContext(src, { filename: ${JSON.stringify(args.path)} })(m.exports, require, m);
module.exports = m.exports;`,
      };
    });
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
  plugins: [absentOptional, lazyCompiled, trimYargs],
};

// The CLI itself, the launcher that runs it from V8's code cache (what `node
// dist/kubectl-harden.cjs` and npm's bin run), the CLI as the single executable's start-up
// snapshot (scripts/release), and the agent.
const entries = [
  ['cmd/kubectl-harden.ts', 'dist/kubectl-harden-cli.cjs', { banner: undefined }],
  ['cmd/launcher.ts', 'dist/kubectl-harden.cjs'],
  ['cmd/kubectl-harden-sea.ts', 'dist/kubectl-harden-sea.cjs', { banner: undefined }],
  ['cmd/harden-agent.ts', 'dist/harden-agent.cjs'],
];
for (const [entry, outfile, options] of entries) {
  const result = await build({ ...common, ...options, entryPoints: [entry], outfile });
  const external = Object.values(result.metafile.outputs)
    .flatMap((o) => o.imports)
    .filter((i) => i.external && !isBuiltin(i.path));
  if (external.length)
    throw new Error(
      `${outfile} requires non-built-in modules at run time: ${external.map((i) => i.path).join(', ')}`,
    );
  chmodSync(outfile, 0o755);
}

// The cache holds what a run compiled, so it is recorded from a run: --help builds every
// command's parser, which is most of what any command line compiles before its handler.
// Without NODE_OPTIONS: V8 refuses a cache made under other flags than the run's.
const env = { ...process.env, HARDEN_RECORD_CODE_CACHE: '1' };
delete env.NODE_OPTIONS;
const recorded = spawnSync(process.execPath, ['dist/kubectl-harden.cjs', '--help'], {
  env,
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (recorded.status !== 0) throw new Error(`recording the code cache: --help exited ${recorded.status}`);
