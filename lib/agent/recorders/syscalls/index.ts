/** Seccomp sessions: the syscalls each target container makes, from its entrypoint's first instruction. */
import { AUDIT_LABEL } from '../../../seccomp/audit';
import type { Recorder } from '../../core/recorder';
import type { SyscallEvent } from './parse';
import { syscallsFromMaps } from './parse';
import { recordingPart, syscallPart, SYSCALL_LIFE_MAPS, SYSCALL_MAPS } from './program';
import { SyscallRecords } from './record';
import { syscallsSchema } from './schema';

export const syscalls: Recorder<SyscallEvent> = {
  type: 'seccomp',
  routes: [
    {
      name: 'tracepoint',
      parts: ({ targets, dialect }) => [recordingPart(targets), syscallPart(targets, dialect)],
    },
  ],
  output: { maps: [...SYSCALL_MAPS, ...SYSCALL_LIFE_MAPS] },
  parseMaps: syscallsFromMaps,
  // An audit session's syscalls also carry when and how often they were seen (`seccomp audit`
  // prints them); other sessions keep only the sets, which is all a profile needs.
  record: (view, previous) =>
    new SyscallRecords(previous, { timed: view.session.metadata.labels?.[AUDIT_LABEL] !== undefined }),
  tallies: ['seen'],
  schema: syscallsSchema,
};
