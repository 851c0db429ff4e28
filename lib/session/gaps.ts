/**
 * Gaps: intervals in which a session's target was not traced. The agent records them; `stop` and
 * `show` name them, because a profile that silently misses a syscall becomes a false denial the day
 * it is enforced. Pure.
 */
import { MAX_GAPS, type Gap, type TraceSession } from './types';

const t = (iso: string) => Date.parse(iso);

/**
 * Adds a gap to a list kept sorted and bounded: overlapping gaps join, and beyond MAX_GAPS the two
 * closest neighbours merge into one span, so the list may overstate a gap but never hides one.
 */
export function withGap(list: readonly Gap[] | undefined, gap: Gap): Gap[] {
  const out = [...(list ?? []), gap].sort((a, b) => t(a.from) - t(b.from));
  const merged: Gap[] = [];
  for (const g of out) {
    const last = merged[merged.length - 1];
    if (last && t(g.from) <= t(last.to)) merged[merged.length - 1] = join(last, g);
    else merged.push({ ...g });
  }
  while (merged.length > MAX_GAPS) {
    let best = 0;
    for (let i = 1; i < merged.length - 1; i++) {
      if (t(merged[i + 1].from) - t(merged[i].to) < t(merged[best + 1].from) - t(merged[best].to)) best = i;
    }
    merged.splice(best, 2, join(merged[best], merged[best + 1]));
  }
  return merged;
}

function join(a: Gap, b: Gap): Gap {
  return {
    from: t(a.from) <= t(b.from) ? a.from : b.from,
    to: t(a.to) >= t(b.to) ? a.to : b.to,
    reason: a.reason === b.reason ? a.reason : 'Several',
  };
}

const WHY: Record<Gap['reason'], string> = {
  BpftraceExited: 'bpftrace exited and was restarted',
  AgentRestarted: 'the node agent was not running',
  ProgramSwitch: 'a program switch did not cover it in time',
  MapFull: "the node made more new syscalls in one interval than the agent's kernel map holds",
  EventsLost: "bpftrace's output buffer overflowed and dropped what it printed",
  Several: 'several interruptions',
};

export interface GapReport {
  /** "pod/container" for a container's gap, "node <name>" for a node-wide one. */
  where: string;
  gap: Gap;
}

/** Every gap a session's status records, containers first, in time order within each. */
export function gapsOf(session: TraceSession): GapReport[] {
  const out: GapReport[] = [];
  for (const node of session.status?.nodes ?? []) {
    for (const c of node.containers ?? []) {
      for (const gap of c.gaps ?? []) out.push({ where: `${c.pod}/${c.container}`, gap });
    }
  }
  for (const node of session.status?.nodes ?? []) {
    for (const gap of node.gaps ?? []) out.push({ where: `node ${node.node}`, gap });
  }
  return out;
}

/** One warning line per gap: what, from when to when, and why. */
export function describeGap({ where, gap }: GapReport): string {
  const secs = ((t(gap.to) - t(gap.from)) / 1000).toFixed(1);
  // A full map or lost output: tracing went on but dropped some of what came, not all of it.
  const what =
    gap.reason === 'MapFull' || gap.reason === 'EventsLost'
      ? `${where} may miss syscalls`
      : where.startsWith('node ')
        ? `${where} traced nothing (pods that ran only then are not in the profile)`
        : `${where} was not traced`;
  return `${what} from ${gap.from} to ${gap.to} (${secs} s): ${WHY[gap.reason]}`;
}
