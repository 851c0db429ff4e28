import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// DESIGN §7, checkable: the CLI sits on top; nothing below it imports it.
const noCli = {
  group: ['**/cli', '**/cli/**'],
  message: 'lib/cli is the top layer: lower folders never import it (errors live in lib/errors.ts).',
};
// Policy synthesis is pure: data in, objects out. Object shapes and pure helpers over them
// (lib/kube/objects, lib/kube/paths) are data; clients, watches and kubeconfigs are the world.
const noWorld = [
  {
    group: ['node:fs', 'node:fs/*', 'fs', 'fs/*', 'node:http', 'node:https', 'http', 'https'],
    message: 'Policy synthesis is pure: read and write files and sockets in the caller (lib/cli, lib/agent).',
  },
  {
    group: ['**/kube/*', '!**/kube/objects', '!**/kube/paths'],
    message: 'Policy synthesis talks to no cluster: take the objects as data.',
  },
];

// DESIGN §7: the agent's core composes recorders through lib/agent/core/recorder.ts and knows none of
// them (only lib/agent/main.ts, the composition root, imports the registry); a recorder uses the
// core and its own folder, never another recorder.
const noRecorders = {
  group: ['**/recorders', '**/recorders/**'],
  message:
    "lib/agent/core knows recorders only through core/recorder.ts: take them as arguments (the registry is main.ts's).",
};
const noOtherRecorder = {
  regex: '^\\.\\./(?!\\.\\./)',
  message: 'A recorder imports the core and its own folder only: share through lib/agent/core.',
};

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
  {
    files: ['lib/*.ts', 'lib/{kube,session,agent}/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noCli] }] },
  },
  {
    files: ['lib/agent/core/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noCli, noRecorders] }] },
  },
  {
    files: ['lib/agent/recorders/*/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noCli, noOtherRecorder] }] },
  },
  {
    files: ['lib/{seccomp,netpol,deploy,securitycontext}/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noCli, ...noWorld] }] },
  },
);
