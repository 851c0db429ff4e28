import { buildParser } from './lib/cli/main';
async function complete(words: string[]) {
  let got: string[] = [];
  const p = buildParser([]).completion('__yargs', false, (current: string, argv: unknown, def: (cb: (e: unknown, c: string[]) => void) => void, done: (c: string[]) => void) => {
    def((_e, c) => { got = c; done([]); });
  });
  await p.parseAsync(['--get-yargs-completions', 'kubectl-harden', ...words]);
  return got;
}
(async () => {
  for (const w of [['sec'], ['sc', 'st'], ['-n', 'web', 'sc', ''], ['seccomp', 'stop', 'x', '--out'], ['netpol', ''], ['completion', ''], ['seccomp', 'stop', '-o', ''], ['--con'], ['']]) {
    console.log(JSON.stringify(w), JSON.stringify(await complete(w)));
  }
})();
