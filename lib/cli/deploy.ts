import type { Argv, CommandModule } from 'yargs';
import { UsageError } from './errors';
import {
  addConnectionFlags,
  addOutputFlag,
  addTimeoutFlag,
  type BaseArgs,
  type ConnectionArgs,
} from './flags';

interface DeployArgs extends ConnectionArgs {
  image?: string;
  kubeletRoot?: string;
  wait: boolean;
  timeout: number;
  dryRun: 'none' | 'client' | 'server';
  output?: 'yaml' | 'json';
}

interface UndeployArgs extends ConnectionArgs {
  force: boolean;
  wait: boolean;
  timeout: number;
}

// The agent's namespace is its own: these verbs work cluster-wide and offer no -n.
const connection = <T>(y: Argv<T>) => addConnectionFlags(y, { namespaced: false });

export const deployCommand: CommandModule<BaseArgs, DeployArgs> = {
  command: 'deploy',
  describe: 'Install the node agent (DaemonSet), the TraceSession CRD and RBAC; wait for the rollout',
  builder: (y: Argv<BaseArgs>) =>
    addTimeoutFlag(connection(y), 'for the rollout', '5m')
      .option('image', {
        type: 'string',
        requiresArg: true,
        describe: "Agent image (default: this release's own)",
      })
      .option('kubelet-root', {
        type: 'string',
        requiresArg: true,
        describe:
          "kubelet's --root-dir on the nodes, whose seccomp/ holds installed profiles (default /var/lib/kubelet; MicroK8s: /var/snap/microk8s/common/var/lib/kubelet)",
      })
      .option('wait', {
        type: 'boolean',
        default: true,
        describe: 'Wait until every node runs a ready agent',
      })
      .option('dry-run', {
        type: 'string',
        choices: ['none', 'client', 'server'],
        default: 'none',
        describe:
          'client: print the objects (in the -o format); server: validate them on the server without persisting',
      })
      .option('output', {
        alias: 'o',
        type: 'string',
        choices: ['yaml', 'json'],
        describe: 'Output format of --dry-run=client (default yaml)',
      })
      // -o only formats what --dry-run=client prints; anywhere else it would be silently ignored.
      .check((argv) => {
        if (argv.kubeletRoot !== undefined && !String(argv.kubeletRoot).startsWith('/'))
          throw new UsageError(`--kubelet-root must be an absolute path, not ${argv.kubeletRoot}`);
        if (argv.output !== undefined && argv.dryRun !== 'client')
          throw new UsageError('-o/--output prints the objects: it needs --dry-run=client');
        return true;
      }) as unknown as Argv<DeployArgs>,
  handler: async (argv) => {
    const [run, { collaborators, runtimeOf }] = await Promise.all([
      import('./deploy-run'),
      import('./context'),
    ]);
    if (argv.dryRun === 'client') {
      run.printManifests(
        { image: argv.image, kubeletRoot: argv.kubeletRoot, output: argv.output ?? 'yaml' },
        runtimeOf(argv).io(argv),
      );
      return;
    }
    await run.runDeploy(
      {
        image: argv.image,
        kubeletRoot: argv.kubeletRoot,
        dryRun: argv.dryRun,
        wait: argv.wait,
        timeoutMs: argv.timeout,
      },
      await collaborators(argv),
    );
  },
};

export const undeployCommand: CommandModule<BaseArgs, UndeployArgs> = {
  command: 'undeploy',
  describe: 'Remove the agent, the CRD (and with it every session) and RBAC',
  builder: (y: Argv<BaseArgs>) =>
    addTimeoutFlag(connection(y), 'for the deletion', '2m')
      .option('force', {
        type: 'boolean',
        default: false,
        describe: 'Remove even while sessions are active or seccomp profiles installed',
      })
      .option('wait', {
        type: 'boolean',
        default: true,
        describe: 'Wait until everything is gone',
      }) as unknown as Argv<UndeployArgs>,
  handler: async (argv) => {
    const [{ runUndeploy }, { collaborators }] = await Promise.all([
      import('./deploy-run'),
      import('./context'),
    ]);
    await runUndeploy(
      { force: argv.force, wait: argv.wait, timeoutMs: argv.timeout },
      await collaborators(argv),
    );
  },
};

export const statusCommand: CommandModule<BaseArgs, ConnectionArgs & { output: 'table' | 'json' | 'yaml' }> =
  {
    command: 'status',
    describe: 'Show the agent on every node: pod, readiness, versions, kernel, active sessions',
    builder: (y: Argv<BaseArgs>) => addOutputFlag(connection(y), ['table', 'json', 'yaml'], 'table'),
    handler: async (argv) => {
      const [{ runStatus }, { collaborators }] = await Promise.all([
        import('./status-run'),
        import('./context'),
      ]);
      await runStatus({ output: argv.output }, await collaborators(argv));
    },
  };
