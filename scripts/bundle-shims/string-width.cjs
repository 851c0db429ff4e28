// string-width as yargs, cliui and wrap-ansi call it: every piece of help text is measured,
// most of them several times, and string-width runs a regular expression of all emoji over each.
// Printable ASCII, which is all of the CLI's help, is one column a character; anything else goes
// to string-width itself (resolved from here, so the real module).
'use strict';
const stringWidth = require('string-width');

const PLAIN = /^[\x20-\x7e]*$/;

module.exports = (text) => (typeof text === 'string' && PLAIN.test(text) ? text.length : stringWidth(text));
