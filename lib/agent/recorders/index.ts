/**
 * The registry: every kind of session the agent records, one line per recorder. The core knows
 * them only through lib/agent/core/recorder.ts; their order is the order of their parts in the
 * node's program.
 */
import type { Recorder } from '../core/recorder';
import { network } from './network';
import { privileges } from './privileges';
import { syscalls } from './syscalls';

export const RECORDERS: readonly Recorder[] = [syscalls, network, privileges];
