// escalade/sync as yargs uses it: to find the package.json nearest to the running script, for a
// default --version and for parser settings under its "yargs" key. The CLI sets neither through
// package.json (version comes from the build), and reading whatever package.json lies above the
// executable or the working directory is a cost on every run and a way for a stranger's file to
// change how arguments parse. So: no package.json is found.
'use strict';
module.exports = () => undefined;
