// The programs the agent assembles for given kinds of session, and the reader of their output, for
// tests that run or read them.
import { assembleProgram } from '../../lib/agent/core/assemble';
import type { Dialect } from '../../lib/agent/core/dialect';
import { OutputReader, type TraceEvent } from '../../lib/agent/core/output';
import type { Program, ProgramTargets } from '../../lib/agent/core/program';
import type { Attributed } from '../../lib/agent/core/recorder';
import { RECORDERS } from '../../lib/agent/recorders';
import { networkInputs } from '../../lib/agent/recorders/network';
import type { SessionType } from '../../lib/session/types';

/** Each recorder by its first route, as on a kernel that serves them all (this machine's). */
const ROUTES = RECORDERS.map((recorder) => ({ recorder, route: recorder.routes[0] }));

/** The program when sessions of these kinds (with these inputs) run on the node. */
export function programFor(
  kinds: { type: SessionType; inputs?: string[] }[],
  t: ProgramTargets,
  intervalMs: number,
  dialect: Dialect,
  arch = 'amd64',
): Program {
  const extra = RECORDERS.flatMap((r) => {
    const k = kinds.find((x) => x.type === r.type);
    return k ? [r.type, ...[...new Set(k.inputs)].sort().map((i) => `${r.type}:${i}`)] : [];
  });
  return assembleProgram({ ...t, extra }, { intervalMs, dialect, arch, routes: ROUTES });
}

/** Only seccomp sessions on the node. */
export function seccompOnlyProgram(t: ProgramTargets, intervalMs: number, dialect: Dialect): Program {
  return programFor([{ type: 'seccomp' }], t, intervalMs, dialect);
}

/** Only pod-name network sessions on the node, whose pods have these addresses. */
export function networkOnlyProgram(
  t: ProgramTargets,
  podIPs: string[],
  intervalMs: number,
  dialect: Dialect,
): Program {
  return programFor([{ type: 'network', inputs: podIPs.map(networkInputs.ip) }], t, intervalMs, dialect);
}

const reader = new OutputReader(RECORDERS);

/** One line of bpftrace output, read as the agent reads it. */
export const parseOutputLine = (line: string): TraceEvent[] => reader.parse(line);

/** The events one kind's recorder read from an output event (none from others). */
export function recordedBy<E extends Attributed>(type: SessionType, e: TraceEvent): E[] {
  return e.kind === 'recorded' && e.recorder === type ? (e.events as E[]) : [];
}

/** What BpftraceRun and Tracer are given to read output with. */
export const parse = { parse: parseOutputLine };
