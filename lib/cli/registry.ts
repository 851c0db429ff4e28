import type { CommandModule } from 'yargs';
import { deployCommand, statusCommand, undeployCommand } from './deploy';
import type { GlobalFlags } from './flags';
import { netpolCommand, netpolSubcommands } from './netpol';
import { seccompCommand, seccompSubcommands } from './seccomp';
import { securityContextCommand, securityContextSubcommands } from './securitycontext';

/**
 * Every verb group, registered explicitly (a commandDir scan does not survive bundling). Each module
 * is light: its handler imports the implementation, so `--help` never loads the Kubernetes client.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command has its own argument type
export type AnyCommand = CommandModule<GlobalFlags, any>;

export const commands: AnyCommand[] = [
  deployCommand,
  undeployCommand,
  statusCommand,
  seccompCommand,
  netpolCommand,
  securityContextCommand,
];

/** The verbs under each verb group, for completion. */
export const subcommands: Record<string, AnyCommand[]> = {
  seccomp: seccompSubcommands,
  netpol: netpolSubcommands,
  securitycontext: securityContextSubcommands,
};

/** Verbs whose exit status 1 reports findings, as diff's does; main makes their failures exit 2. */
export const findingsCommands: readonly string[] = ['netpol verify'];
