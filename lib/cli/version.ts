import type { Argv, CommandModule } from 'yargs';
import type { GlobalFlags } from './flags';

interface Args extends GlobalFlags {
  client?: boolean;
}

export const versionCommand: CommandModule<GlobalFlags, Args> = {
  command: 'version',
  describe: 'Print the client and server versions',
  builder: (y: Argv<GlobalFlags>) =>
    y.option('client', { type: 'boolean', describe: 'Client version only (no server needed)' }) as Argv<Args>,
  handler: async (argv) => {
    const { runVersion } = await import('./version-run');
    await runVersion(argv);
  },
};
