// node:assert as yargs uses it: two checks of its own invariants. The real module costs a few
// milliseconds to load (it sets up colours for its diffs on stderr), on every run of the CLI.
'use strict';

function check(ok, message) {
  if (ok) return;
  const e = new Error(message || 'assertion failed');
  e.code = 'ERR_ASSERTION';
  throw e;
}

module.exports = {
  strictEqual: (actual, expected, message) => check(actual === expected, message),
  notStrictEqual: (actual, expected, message) => check(actual !== expected, message),
};
