import type { Argv, CommandModule } from 'yargs';
import { addConnectionFlags, addTimeoutFlag, type BaseArgs, type ConnectionArgs } from './flags';

interface ApplyArgs extends ConnectionArgs {
  filename: string;
  dryRun: 'none' | 'client' | 'server';
  audit: boolean;
  undo: boolean;
  timeout: number;
}

/** `kubectl harden apply -f DIR`: what `record` wrote, in force workload by workload (or --undo). */
export const applyCommand: CommandModule<BaseArgs, ApplyArgs> = {
  command: 'apply',
  describe:
    'Put a directory written by `record` in force: seccomp profiles on every node, each pod template patched, NetworkPolicies applied, workload by workload',
  builder: (y: Argv<BaseArgs>) =>
    addTimeoutFlag(addConnectionFlags(y, { namespaced: true }), 'for each rollout', '5m')
      .option('filename', {
        alias: 'f',
        type: 'string',
        demandOption: true,
        requiresArg: true,
        describe: 'The directory `kubectl harden record --output-dir` wrote',
      })
      .option('dry-run', {
        type: 'string',
        choices: ['none', 'client', 'server'],
        default: 'none',
        describe:
          'client: print what would change; server: also send the patches and policies as a server dry run',
      })
      .option('audit', {
        type: 'boolean',
        default: false,
        describe:
          "Install the profiles' logging variant (SCMP_ACT_LOG), and apply the NetworkPolicies only if they pass every connection of the recording",
      })
      .option('undo', {
        type: 'boolean',
        default: false,
        describe: 'Remove what apply did: templates as before, its NetworkPolicies and profiles removed',
      })
      .example('$0 apply -f web/ --dry-run=client', 'what would change')
      .example('$0 apply -f web/ --audit', 'profiles that log, policies only if they pass the recording')
      .example('$0 apply --undo -f web/', '') as unknown as Argv<ApplyArgs>,
  handler: async (argv) => {
    const [{ runApply }, { collaborators }] = await Promise.all([import('./apply-run'), import('./context')]);
    await runApply(
      {
        dir: argv.filename,
        dryRun: argv.dryRun,
        audit: argv.audit,
        undo: argv.undo,
        rolloutTimeoutMs: argv.timeout,
        installTimeoutMs: 120_000,
      },
      await collaborators(argv),
    );
  },
};
