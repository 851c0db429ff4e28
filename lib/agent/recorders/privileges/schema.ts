/** The capabilities sessions' fields of the TraceSession status schema (see ./types). */
import { bool, identity, int, str } from '../../core/schema';
import { MAX_PRIVILEGE_ENTRIES, PRIVILEGE_LISTS } from './types';

const count = int;
const pair = (item: object) => ({ type: 'array', items: item, minItems: 2, maxItems: 2 });
const bounded = (item: object) => ({ type: 'array', items: item, maxItems: MAX_PRIVILEGE_ENTRIES });
const signedInt = { type: 'integer', format: 'int64' };

const privilege = {
  type: 'object',
  required: ['pod', 'container', 'containerID'],
  properties: {
    ...identity,
    recordedFromStart: bool,
    mounts: bounded(str),
    credentials: bounded({
      type: 'object',
      properties: { uid: int, gid: int, euid: int, egid: int, capEffective: str, runtime: bool, count },
    }),
    idChanges: bounded({
      type: 'object',
      properties: {
        syscall: str,
        args: { type: 'array', items: signedInt, maxItems: 3 },
        result: signedInt,
        runtime: bool,
        count,
      },
    }),
    capChecks: bounded({
      type: 'object',
      properties: { capability: str, syscall: str, granted: bool, onBehalf: bool, runtime: bool, count },
    }),
    execs: bounded({
      type: 'object',
      properties: { path: str, euid: pair(int), egid: pair(int), capEffective: pair(str), count },
    }),
    writes: bounded({
      type: 'object',
      properties: {
        syscall: str,
        path: str,
        rootfs: { type: 'string', enum: ['yes', 'no', 'unknown'] },
        count,
      },
    }),
    volumeWrites: bounded({
      type: 'object',
      properties: {
        syscall: str,
        path: str,
        rootfs: { type: 'string', enum: ['yes', 'no', 'unknown'] },
        count,
      },
    }),
    privateReads: bounded({
      type: 'object',
      properties: { path: str, mode: str, uid: int, gid: int, count },
    }),
    lowBinds: bounded({ type: 'object', properties: { port: int, portStart: int, root: bool, count } }),
    unprivilegedPortStart: int,
    life: {
      type: 'object',
      properties: { execProcesses: int, stopSignals: int, entrypointExit: signedInt },
    },
    truncated: bool,
    truncatedLists: { type: 'array', items: { type: 'string', enum: [...PRIVILEGE_LISTS] }, maxItems: 16 },
  },
};

export const privilegesSchema = {
  node: { privileges: { type: 'array', items: privilege, maxItems: 1000 } },
};
