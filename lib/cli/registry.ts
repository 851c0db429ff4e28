import type { CommandModule } from 'yargs';
import { deployCommand, statusCommand, undeployCommand } from './deploy';
import type { GlobalFlags } from './flags';
import { netpolCommand } from './netpol';
import { seccompCommand } from './seccomp';

/**
 * Every verb group, registered explicitly (a commandDir scan does not survive bundling). Each module
 * is light: its handler imports the implementation, so `--help` never loads the Kubernetes client.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command has its own argument type
export const commands: CommandModule<GlobalFlags, any>[] = [
  deployCommand,
  undeployCommand,
  statusCommand,
  seccompCommand,
  netpolCommand,
];
