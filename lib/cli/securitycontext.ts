import type { Argv } from 'yargs';
import { privilegeRecordsOf } from '../agent/recorders/privileges/session';
import type { SessionKind } from './session-kind';

export interface SecurityContextOptions {
  output: 'yaml' | 'json' | 'patch';
  /** A Localhost seccomp profile to advise instead of RuntimeDefault. */
  seccompProfile?: string;
}

/** `kubectl harden securitycontext …` (alias sc): privileges recorded, the least-privilege securityContext out. */
export const securityContext: SessionKind<SecurityContextOptions> = {
  group: 'securitycontext',
  aliases: ['sc'],
  type: 'capabilities',
  idPrefix: 'cap',
  describe: {
    group: 'Record what a workload does with its privileges and advise the least-privilege securityContext',
    start:
      'Start recording what a pod (or the pods a selector matches) does with its privileges; prints the session id',
    stop: 'Stop a session, wait for the final flush and print the securityContext advice',
    show: 'Print the advice from what was recorded so far, without stopping the session',
    result: 'the securityContext advice',
    records: 'uses of privileges',
    missing: 'privileges used then are not in the advice, which could take away what they need',
    example: '-n web -l app=nginx',
    stopTail: '> advice.yaml   (or -o patch > patch.json)',
  },
  containers: (s) => privilegeRecordsOf(s).length,
  recordsLife: true,
  formats: ['yaml', 'json', 'patch'],
  resultFlags: <T>(y: Argv<T>) =>
    y.option('seccomp-profile', {
      type: 'string',
      requiresArg: true,
      describe: 'Advise seccompProfile Localhost with this profile (a path under kubelet’s seccomp root)',
    }),
  options: (argv) => ({
    output: argv.output as SecurityContextOptions['output'],
    seccompProfile: argv.seccompProfile as string | undefined,
  }),
  result: async () => (await import('./securitycontext-result')).securityContextResult,
};
