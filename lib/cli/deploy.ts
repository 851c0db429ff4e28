import type { Argv, CommandModule } from 'yargs';
import type { GlobalFlags } from './flags';

export interface DeployArgs extends GlobalFlags {
  image?: string;
  wait: boolean;
  timeout: string;
  dryRun?: string;
}

export interface UndeployArgs extends GlobalFlags {
  force: boolean;
  wait: boolean;
  timeout: string;
}

export const deployCommand: CommandModule<GlobalFlags, DeployArgs> = {
  command: 'deploy',
  describe: 'Install the node agent (DaemonSet), the TraceSession CRD and RBAC; wait for the rollout',
  builder: (y: Argv<GlobalFlags>) =>
    y
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
        describe: 'client: print the objects; server: validate them on the server without persisting',
      }) as unknown as Argv<DeployArgs>,
  handler: async (argv) => {
    const { runDeploy } = await import('./deploy-run');
    await runDeploy(argv);
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
    const { runUndeploy } = await import('./deploy-run');
    await runUndeploy(argv);
  },
};

export const statusCommand: CommandModule<GlobalFlags, GlobalFlags> = {
  command: 'status',
  describe: 'Show the agent on every node: pod, readiness, versions, kernel, active sessions',
  builder: (y: Argv<GlobalFlags>) => y,
  handler: async (argv) => {
    const { runStatus } = await import('./status-run');
    await runStatus(argv);
  },
};
