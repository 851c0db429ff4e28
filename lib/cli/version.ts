import type { Argv, CommandModule } from 'yargs';
import { addConnectionFlags, addOutputFlag, type BaseArgs, type ConnectionArgs } from './flags';

interface Args extends ConnectionArgs {
  client?: boolean;
  output: 'table' | 'json' | 'yaml';
}

export const versionCommand: CommandModule<BaseArgs, Args> = {
  command: 'version',
  describe: 'Print the client and server versions',
  builder: (y: Argv<BaseArgs>) =>
    addOutputFlag(addConnectionFlags(y, { namespaced: false }), ['table', 'json', 'yaml'], 'table').option(
      'client',
      { type: 'boolean', describe: 'Client version only (no server needed)' },
    ) as unknown as Argv<Args>,
  handler: async (argv) => {
    const [{ runVersion }, { runtimeOf }] = await Promise.all([import('./version-run'), import('./context')]);
    const rt = runtimeOf(argv);
    await runVersion({ client: argv.client ?? false, output: argv.output }, rt.io(argv), () =>
      rt.connect(argv),
    );
  },
};
