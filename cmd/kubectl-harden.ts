import { exitQuietlyOnEpipe } from '../lib/cli/context';
import { main } from '../lib/cli/main';

exitQuietlyOnEpipe();
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
