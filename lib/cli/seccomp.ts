import type { Argv } from 'yargs';
import { syscallRecordsOf } from '../agent/recorders/syscalls/session';
import {
  applyCommand,
  auditCommand,
  installCommand,
  installedCommand,
  uninstallCommand,
} from './seccomp-verbs';
import { UsageError } from './errors';
import type { SessionKind } from './session-kind';

export interface SeccompOptions {
  output: 'json' | 'crd';
  outputDir?: string;
  runtime: 'runc' | 'crun';
  /** stop --install NAME: the profile goes onto the nodes instead of stdout. */
  install?: string;
  audit?: boolean;
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
  recordsLife: true,
  formats: ['json', 'crd'],
  outputDir: 'Write <namespace>-<workload>-<container>.json (.yaml with -o crd) per container here',
  resultFlags: <T>(y: Argv<T>) =>
    y.option('runtime', {
      type: 'string',
      choices: ['runc', 'crun'],
      default: 'runc',
      describe: "The nodes' OCI runtime, for the post-filter syscalls added when a start was not recorded",
    }),
  stopFlags: <T>(y: Argv<T>) =>
    y
      .option('install', {
        type: 'string',
        requiresArg: true,
        describe:
          'Install the profile on every node under this name (as seccomp install) instead of printing it',
      })
      .option('audit', {
        type: 'boolean',
        describe: 'With --install: the variant that logs what the profile would deny, instead of denying it',
      })
      .check((argv) => {
        if (argv.audit && argv.install === undefined)
          throw new UsageError('--audit goes with --install NAME');
        // checkName's rule (lib/seccomp/install.ts), without loading it for --help: refused before the stop.
        if (argv.install !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(String(argv.install)))
          throw new UsageError(
            `--install ${String(argv.install)}: a profile name is a DNS-1123 label (no '/' or '.')`,
          );
        if (argv.install !== undefined && (argv.outputDir !== undefined || argv.output === 'crd'))
          throw new UsageError('--install takes the JSON profile: drop --output-dir and -o crd');
        return true;
      }),
  verbs: [installCommand, uninstallCommand, installedCommand, applyCommand, auditCommand],
  options: (argv) => ({
    install: argv.install as string | undefined,
    audit: argv.audit as boolean | undefined,
    output: argv.output as SeccompOptions['output'],
    outputDir: argv.outputDir,
    runtime: argv.runtime as SeccompOptions['runtime'],
  }),
  result: async () => (await import('./seccomp-result')).seccompResult,
};
