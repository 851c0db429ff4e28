/**
 * seccomp's own verbs besides the session ones: install, uninstall and installed put recorded
 * profiles on the nodes; apply puts one in force on a workload. Light: handlers import what they run.
 */
import type { Argv } from 'yargs';
import {
  addListingFlags,
  listingOptions,
  addConnectionFlags,
  addOutputFlag,
  addTimeoutFlag,
  type ConnectionArgs,
} from './flags';
import { UsageError } from './errors';
import { invocationOf, reportsFindings } from './invocation';
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
  builder: (y: Argv<Args>) => addListingFlags(y),
  handler: async (argv: Args) => {
    const { verbs, collaborators } = await run();
    await verbs.runInstalled(listingOptions(argv), await collaborators(argv));
  },
};

export const applyCommand: AnyCommand = {
  command: 'apply <workload>',
  describe:
    "Run a workload's pods under an installed seccomp profile (refused unless every node they may run on holds it)",
  builder: (y: Argv<Args>) =>
    addConnectionFlags(y, { namespaced: true })
      .positional('workload', {
        type: 'string',
        demandOption: true,
        describe: 'deployment/NAME, statefulset/NAME or daemonset/NAME',
      })
      .option('profile', {
        type: 'string',
        demandOption: true,
        requiresArg: true,
        describe: 'The installed profile (seccomp install --name)',
      })
      .option('container', {
        alias: 'c',
        type: 'string',
        requiresArg: true,
        describe: "Only this container (default: the pod's securityContext)",
      })
      .option('dry-run', {
        type: 'string',
        choices: ['none', 'client', 'server'],
        default: 'none',
        describe: 'client: print the patch; server: have the API server check it without persisting',
      })
      .check((argv) => {
        if (!/^[a-z.]+\/[^/]+$/i.test(String(argv.workload)))
          throw new UsageError(
            `${String(argv.workload)}: name the workload as deployment/NAME, statefulset/NAME or daemonset/NAME`,
          );
        return true;
      })
      .example('$0 seccomp apply deployment/nginx --profile nginx -n web', ''),
  handler: async (argv: Args) => {
    const [{ runApply }, { collaborators }] = await Promise.all([
      import('./seccomp-apply-run'),
      import('./context'),
    ]);
    await runApply(
      {
        workload: argv.workload as string,
        profile: argv.profile as string,
        container: argv.container as string | undefined,
        dryRun: argv.dryRun as 'none' | 'client' | 'server',
      },
      await collaborators(argv),
    );
  },
};

export const auditCommand: AnyCommand = {
  command: 'audit <name>',
  describe:
    "List per workload and container what an installed profile's enforcing variant would have denied its audit variant's pods (exit 0 if it can be enforced, 1 if not yet, 2 on error)",
  builder: (y: Argv<Args>) =>
    addOutputFlag(
      addConnectionFlags(reportsFindings(y), { namespaced: true }),
      ['table', 'json', 'yaml'],
      'table',
    )
      .positional('name', {
        type: 'string',
        demandOption: true,
        describe: 'The profile installed with --audit and applied (seccomp apply)',
      })
      .example('$0 seccomp audit nginx -n web', ''),
  handler: async (argv: Args) => {
    const [{ runAudit }, { collaborators }] = await Promise.all([
      import('./seccomp-audit-run'),
      import('./context'),
    ]);
    invocationOf(argv).exitCode = await runAudit(
      { name: argv.name as string, output: argv.output as 'table' | 'json' | 'yaml' },
      await collaborators(argv),
    );
  },
};
