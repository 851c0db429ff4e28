/** Seccomp sessions: the syscalls each target container makes, from its entrypoint's first instruction. */
import type { Recorder } from '../../core/recorder';
import type { SyscallEvent } from './parse';
import { syscallsFromMaps } from './parse';
import { recordingPart, syscallPart, SYSCALL_LIFE_MAPS, SYSCALL_MAPS } from './program';
import { SyscallRecords } from './record';
import { syscallsSchema } from './schema';

export const syscalls: Recorder<SyscallEvent> = {
  type: 'seccomp',
  routes: [
    { name: 'tracepoint', parts: ({ targets, dialect }) => [recordingPart(targets), syscallPart(dialect)] },
  ],
  output: { maps: [...SYSCALL_MAPS, ...SYSCALL_LIFE_MAPS] },
  parseMaps: syscallsFromMaps,
  record: (_view, previous) => new SyscallRecords(previous),
  schema: syscallsSchema,
};
