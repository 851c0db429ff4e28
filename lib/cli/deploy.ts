import type { Argv, CommandModule } from 'yargs';
import { parseDuration } from '../duration';
import { addOutputFlag, type GlobalFlags } from './flags';

interface DeployArgs extends GlobalFlags {
  image?: string;
  wait: boolean;
  timeout: string;
  dryRun: 'none' | 'client' | 'server';
  output: 'yaml' | 'json';
}

interface UndeployArgs extends GlobalFlags {
  force: boolean;
  wait: boolean;
  timeout: string;
}

export const deployCommand: CommandModule<GlobalFlags, DeployArgs> = {
  command: 'deploy',
  describe: 'Install the node agent (DaemonSet), the TraceSession CRD and RBAC; wait for the rollout',
  builder: (y: Argv<GlobalFlags>) =>
    addOutputFlag(y, ['yaml', 'json'], 'yaml')
      .option('image', { type: 'string', describe: "Agent image (default: this release's own)" })
      .option('wait', {
        type: 'boolean',
        default: true,
        describe: 'Wait until every node runs a ready agent',
      })
      .option('timeout', { type: 'string', default: '5m', describe: 'How long to wait for the rollout' })
      .option('dry-run', {
        type: 'string',
        choices: ['none', 'client', 'server'],
        default: 'none',
        describe:
          'client: print the objects (in the -o format); server: validate them on the server without persisting',
      }) as unknown as Argv<DeployArgs>,
  handler: async (argv) => {
    const timeoutMs = parseDuration(argv.timeout) ?? 300_000;
    const [run, { collaborators, runtimeOf }] = await Promise.all([
      import('./deploy-run'),
      import('./context'),
    ]);
    if (argv.dryRun === 'client') {
      run.printManifests({ image: argv.image, output: argv.output }, runtimeOf(argv).io(argv));
      return;
    }
    await run.runDeploy(
      { image: argv.image, dryRun: argv.dryRun, wait: argv.wait, timeoutMs },
      await collaborators(argv),
    );
  },
};

export const undeployCommand: CommandModule<GlobalFlags, UndeployArgs> = {
  command: 'undeploy',
  describe: 'Remove the agent, the CRD (and with it every session) and RBAC',
  builder: (y: Argv<GlobalFlags>) =>
    y
      .option('force', { type: 'boolean', default: false, describe: 'Remove even while sessions are active' })
      .option('wait', { type: 'boolean', default: true, describe: 'Wait until everything is gone' })
      .option('timeout', {
        type: 'string',
        default: '2m',
        describe: 'How long to wait for deletion',
      }) as unknown as Argv<UndeployArgs>,
  handler: async (argv) => {
    const timeoutMs = parseDuration(argv.timeout) ?? 120_000;
    const [{ runUndeploy }, { collaborators }] = await Promise.all([
      import('./deploy-run'),
      import('./context'),
    ]);
    await runUndeploy({ force: argv.force, wait: argv.wait, timeoutMs }, await collaborators(argv));
  },
};

export const statusCommand: CommandModule<GlobalFlags, GlobalFlags & { output: 'table' | 'json' | 'yaml' }> =
  {
    command: 'status',
    describe: 'Show the agent on every node: pod, readiness, versions, kernel, active sessions',
    builder: (y: Argv<GlobalFlags>) => addOutputFlag(y, ['table', 'json', 'yaml'], 'table'),
    handler: async (argv) => {
      const [{ runStatus }, { collaborators }] = await Promise.all([
        import('./status-run'),
        import('./context'),
      ]);
      await runStatus({ output: argv.output }, await collaborators(argv));
    },
  };
