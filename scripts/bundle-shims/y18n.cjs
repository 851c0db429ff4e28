// y18n as yargs calls it. yargs keeps its translations as JSON files beside its own code, which
// the bundle does not carry: the real y18n looks for them on disk at the first message (stats and
// a failed read), then falls back to the English text. This is that fallback, without the disk.
// Strings set with yargs' updateStrings() are kept per locale, as y18n keeps them.
'use strict';
const { format } = require('node:util');

module.exports = function y18n(opts = {}) {
  let locale = opts.locale || 'en';
  const tables = Object.create(null);
  const table = () => (tables[locale] = tables[locale] || Object.create(null));
  const done = (args) => {
    if (typeof args[args.length - 1] === 'function') args.pop()();
  };
  return {
    __(str, ...args) {
      done(args);
      return format(table()[str] || str, ...args);
    },
    __n(singular, plural, quantity, ...args) {
      done(args);
      const entry = table()[singular];
      const str = entry ? entry[quantity === 1 ? 'one' : 'other'] : quantity === 1 ? singular : plural;
      return format(str, ...(str.includes('%d') ? [quantity] : []), ...args);
    },
    setLocale: (l) => void (locale = l),
    getLocale: () => locale,
    updateLocale: (strings) => void Object.assign(table(), strings),
    locale,
  };
};
