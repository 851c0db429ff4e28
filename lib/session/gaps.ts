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
  /** The node whose agent recorded it; pod and container for a container's gap. */
  node: string;
  pod?: string;
  container?: string;
  gap: Gap;
}

/** Every gap a session's status records, containers first, in time order within each. */
export function gapsOf(session: TraceSession): GapReport[] {
  const out: GapReport[] = [];
  for (const node of session.status?.nodes ?? []) {
    for (const c of node.containers ?? []) {
      for (const gap of c.gaps ?? [])
        out.push({
          where: `${c.pod}/${c.container}`,
          node: node.node,
          pod: c.pod,
          container: c.container,
          gap,
        });
    }
  }
  for (const node of session.status?.nodes ?? []) {
    for (const gap of node.gaps ?? []) out.push({ where: `node ${node.node}`, node: node.node, gap });
  }
  return out;
}

/** How a session's kind names what a gap loses: what it records, and what it makes of it. */
export interface GapTerms {
  records: string;
  result: string;
}

const SECCOMP_TERMS: GapTerms = { records: 'syscalls', result: 'the profile' };

/** One warning line per gap: what, from when to when, and why. */
export function describeGap({ where, gap }: GapReport, terms: GapTerms = SECCOMP_TERMS): string {
  const secs = ((t(gap.to) - t(gap.from)) / 1000).toFixed(1);
  // A full map or lost output: tracing went on but dropped some of what came, not all of it.
  const what =
    gap.reason === 'MapFull' || gap.reason === 'EventsLost'
      ? `${where} may miss ${terms.records}`
      : where.startsWith('node ')
        ? `${where} traced nothing (pods that ran only then are not in ${terms.result})`
        : `${where} was not traced`;
  // A reason newer than this plugin (from a log or a newer agent) is still named.
  return `${what} from ${gap.from} to ${gap.to} (${secs} s): ${WHY[gap.reason] ?? gap.reason}`;
}

/**
 * What a watcher of a running session has not seen yet: gaps that are new, or that grew since it
 * last looked (a gap's end moves while the agent keeps it open). `count`: distinct gaps so far.
 */
export class GapWatch {
  private readonly ends = new Map<string, string>();

  news(session: TraceSession): GapReport[] {
    return gapsOf(session).filter((g) => {
      const key = `${g.node}|${g.where}|${g.gap.from}`;
      const end = this.ends.get(key);
      if (end !== undefined && t(end) >= t(g.gap.to)) return false;
      this.ends.set(key, g.gap.to);
      return true;
    });
  }

  get count(): number {
    return this.ends.size;
  }
}
