import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layers, checkable: lib/cli is the top (commands); lib/agent runs on the nodes; lib/session
// is the TraceSession client both share; lib/kube talks to the API server; the pure core
// (lib/seccomp, lib/netpol, lib/deploy, lib/securitycontext) turns data into policies and
// manifests; lib/*.ts are small helpers everyone may use. A layer imports only what is below it,
// and only lib/kube and lib/agent touch the world.

/** A rule for both static imports (patterns, gitignore-style) and dynamic import() (a regex of the path). */
const rule = (group, message, dynamic) => ({ group, message, dynamic });

const noCli = rule(
  ['**/cli', '**/cli/**'],
  'lib/cli is the top layer: lower folders never import it (errors live in lib/errors.ts).',
  /(^|\/)cli(\/|$)/,
);
const noSessionOrAbove = rule(
  ['**/session', '**/session/**', '**/agent', '**/agent/**'],
  'lib/kube is the API client under lib/session and lib/agent: it never imports them.',
  /(^|\/)(session|agent)(\/|$)/,
);
// Policy synthesis is pure: data in, objects out. Object shapes and pure helpers over them
// (lib/kube/objects, lib/kube/paths) are data; clients, watches, kubeconfigs, files, sockets and
// processes are the world (lib/ip.ts holds the pure address checks of node:net).
const noWorld = [
  rule(
    ['node:fs', 'node:fs/*', 'fs', 'fs/*', 'node:http', 'node:https', 'http', 'https'],
    'Policy synthesis is pure: read and write files and sockets in the caller (lib/cli, lib/agent).',
    /^(node:)?(fs|http|https)(\/|$)/,
  ),
  rule(
    ['node:net', 'net', 'node:dgram', 'dgram', 'node:tls', 'tls', 'node:child_process', 'child_process'],
    'Policy synthesis is pure: no sockets or processes (address checks are in lib/ip.ts).',
    /^(node:)?(net|dgram|tls|child_process)$/,
  ),
  rule(
    [
      '@kubernetes/client-node',
      '@kubernetes/client-node/**',
      '**/kube/*',
      '!**/kube/objects',
      '!**/kube/paths',
    ],
    'Policy synthesis talks to no cluster: take the objects as data.',
    /^@kubernetes\/client-node|(^|\/)kube\/(?!objects$|paths$)/,
  ),
];

// The agent's core composes recorders through lib/agent/core/recorder.ts and knows none of them
// (only lib/agent/main.ts, the composition root, imports the registry); a recorder uses the core
// and its own folder, never another recorder.
const noRecorders = rule(
  ['**/recorders', '**/recorders/**'],
  "lib/agent/core knows recorders only through core/recorder.ts: take them as arguments (the registry is main.ts's).",
  /(^|\/)recorders(\/|$)/,
);
const noOtherRecorder = {
  regex: '^\\.\\./(?!\\.\\./)',
  message: 'A recorder imports the core and its own folder only: share through lib/agent/core.',
  dynamic: /^\.\.\/(?!\.\.\/)/,
};

/** no-restricted-imports for the static forms, no-restricted-syntax for import(). */
function layer(files, rules) {
  return {
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: rules.map(({ group, regex, message }) =>
            regex ? { regex, message } : { group, message },
          ),
        },
      ],
      'no-restricted-syntax': [
        'error',
        ...rules.map(({ dynamic, message }) => ({
          selector: `ImportExpression[source.value=${dynamic}]`,
          message,
        })),
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.cjs', 'test/golden/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }] },
  },
  layer(['lib/*.ts', 'lib/session/**/*.ts', 'lib/agent/*.ts', 'lib/agent/recorders/*.ts'], [noCli]),
  layer(['lib/agent/core/**/*.ts', 'lib/agent/installs/**/*.ts'], [noCli, noRecorders]),
  layer(['lib/agent/recorders/*/**/*.ts'], [noCli, noOtherRecorder]),
  layer(['lib/kube/**/*.ts'], [noCli, noSessionOrAbove]),
  layer(['lib/{seccomp,netpol,deploy,securitycontext}/**/*.ts'], [noCli, ...noWorld]),
);
