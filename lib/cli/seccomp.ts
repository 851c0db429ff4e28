import type { Argv } from 'yargs';
import { syscallRecordsOf } from '../agent/recorders/syscalls/session';
import { installCommand, installedCommand, uninstallCommand } from './seccomp-verbs';
import type { SessionKind } from './session-kind';

export interface SeccompOptions {
  output: 'json' | 'crd';
  outputDir?: string;
  runtime: 'runc' | 'crun';
}

/** `kubectl harden seccomp …`: syscalls recorded, seccomp profiles out. */
export const seccomp: SessionKind<SeccompOptions> = {
  group: 'seccomp',
  type: 'seccomp',
  idPrefix: 'sc',
  describe: {
    group: 'Record syscalls and turn them into seccomp profiles',
    start: 'Start recording the syscalls of a pod (or of the pods a selector matches); prints the session id',
    stop: 'Stop a session, wait for the final flush and print the seccomp profile(s)',
    show: 'Print the profile recorded so far, without stopping the session',
    result: 'the seccomp profile(s)',
    records: 'syscalls',
    missing: 'syscalls made then may be missing from the profile, and enforcing it would deny them',
    example: '-n web -p nginx-7c9',
    stopTail: '> profile.json',
  },
  containers: (s) => syscallRecordsOf(s).length,
  formats: ['json', 'crd'],
  outputDir: 'Write <namespace>-<workload>-<container>.json (.yaml with -o crd) per container here',
  resultFlags: <T>(y: Argv<T>) =>
    y.option('runtime', {
      type: 'string',
      choices: ['runc', 'crun'],
      default: 'runc',
      describe: "The nodes' OCI runtime, for the post-filter syscalls added when a start was not recorded",
    }),
  verbs: [installCommand, uninstallCommand, installedCommand],
  options: (argv) => ({
    output: argv.output as SeccompOptions['output'],
    outputDir: argv.outputDir,
    runtime: argv.runtime as SeccompOptions['runtime'],
  }),
  result: async () => (await import('./seccomp-result')).seccompResult,
};
