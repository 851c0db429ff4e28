// get-caller-file and require-directory: what yargs' commandDir() needs to load command modules
// from a directory at run time. The CLI registers its commands explicitly (a bundle has no
// directory of modules), so this stands in for both and says so if it is ever called.
'use strict';
module.exports = () => {
  throw new Error('yargs commandDir() is not available in the bundled CLI: register commands explicitly');
};
