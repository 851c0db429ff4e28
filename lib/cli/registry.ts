import { applyCommand } from './apply';
import { completionCommand } from './completion';
import { deployCommand, statusCommand, undeployCommand } from './deploy';
import { netpolCommand } from './netpol';
import { recordCommand } from './record';
import { seccomp } from './seccomp';
import { securityContext } from './securitycontext';
import { sessionGroup } from './session-group';
import type { SessionKind } from './session-kind';
import { versionCommand } from './version';
import type { AnyCommand } from './verb-group';

/**
 * The kinds of recording session, one descriptor each (lib/cli/session-kind.ts): each becomes a
 * verb group with start, stop, show, list and delete. A new kind is one more line here.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each kind has its own result options
export const sessionKinds: SessionKind<any>[] = [seccomp, securityContext];

/**
 * Every top-level verb and verb group, registered explicitly. Each module is light: its handler
 * imports the implementation, so `--help` never loads the Kubernetes client.
 */
export const commands: AnyCommand[] = [
  deployCommand,
  undeployCommand,
  statusCommand,
  ...sessionKinds.map(sessionGroup),
  netpolCommand,
  recordCommand,
  applyCommand,
  versionCommand,
  completionCommand,
];
