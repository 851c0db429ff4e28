/**
 * seccomp's own verbs besides the session ones: install, uninstall and installed put recorded
 * profiles on the nodes; apply puts one in force on a workload. Light: handlers import what they run.
 */
import type { Argv } from 'yargs';
import {
  addAllNamespacesFlag,
  addConnectionFlags,
  addOutputFlag,
  addTimeoutFlag,
  type ConnectionArgs,
} from './flags';
import type { AnyCommand } from './verb-group';

type Args = ConnectionArgs & Record<string, unknown>;

const run = async () => {
  const [verbs, { collaborators }] = await Promise.all([
    import('./seccomp-install-run'),
    import('./context'),
  ]);
  return { verbs, collaborators };
};

export const installCommand: AnyCommand = {
  command: 'install <file>',
  describe:
    "Put a seccomp profile into every node's kubelet seccomp root (the agents write it); prints the Localhost path",
  builder: (y: Argv<Args>) =>
    addTimeoutFlag(addConnectionFlags(y, { namespaced: true }), 'for every node to hold it', '2m')
      .positional('file', { type: 'string', demandOption: true, describe: 'The profile (JSON); - for stdin' })
      .option('name', {
        type: 'string',
        demandOption: true,
        requiresArg: true,
        describe: 'Its name: the file is harden/<namespace>/<name>.json',
      })
      .option('audit', {
        type: 'boolean',
        default: false,
        describe:
          'Install the variant that logs (SCMP_ACT_LOG) what the profile would deny, instead of denying it',
      })
      .example('$0 seccomp install nginx.json --name nginx -n web', ''),
  handler: async (argv: Args) => {
    const { verbs, collaborators } = await run();
    await verbs.runInstall(
      {
        file: argv.file as string,
        name: argv.name as string,
        audit: argv.audit as boolean,
        timeoutMs: argv.timeout as number,
      },
      await collaborators(argv),
    );
  },
};

export const uninstallCommand: AnyCommand = {
  command: 'uninstall <name>',
  describe: 'Remove an installed seccomp profile from every node (refused while a workload uses it)',
  builder: (y: Argv<Args>) =>
    addConnectionFlags(y, { namespaced: true })
      .positional('name', { type: 'string', demandOption: true, describe: 'The installed profile' })
      .option('force', {
        type: 'boolean',
        default: false,
        describe: 'Remove it even while workloads use it',
      }),
  handler: async (argv: Args) => {
    const { verbs, collaborators } = await run();
    await verbs.runUninstall(
      { name: argv.name as string, force: argv.force as boolean },
      await collaborators(argv),
    );
  },
};

export const installedCommand: AnyCommand = {
  command: 'installed',
  describe: 'List installed seccomp profiles and what each node holds (-A: in every namespace)',
  builder: (y: Argv<Args>) =>
    addOutputFlag(
      addAllNamespacesFlag(addConnectionFlags(y, { namespaced: true })),
      ['table', 'json', 'yaml'],
      'table',
    ),
  handler: async (argv: Args) => {
    const { verbs, collaborators } = await run();
    await verbs.runInstalled(
      {
        allNamespaces: (argv.allNamespaces as boolean | undefined) ?? false,
        output: argv.output as 'table' | 'json' | 'yaml',
      },
      await collaborators(argv),
    );
  },
};
