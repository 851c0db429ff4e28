/**
 * Keeps one bpftrace program matching the wanted targets, switching by overlap: the new program is
 * started and attached before the old one is stopped, so no syscall falls in a gap. At most two run:
 * the one in service and the one starting.
 *
 * A new program is taken into service only when it covers everything known by then: a cgroup armed
 * or exec'd while it was compiling (reported by the old one) was not in its seeds. Then it is
 * replaced by one started from the newer knowledge while the old one keeps serving. When that keeps
 * failing (constant pod churn), the newest is taken anyway and what it missed is reported as a gap.
 *
 * Whenever nothing was traced for a while (bpftrace died, a switch missed cgroups), the interval is
 * reported through onGap: a gap is data, never silence.
 */
import { BpftraceRun, type BpftraceOptions } from './bpftrace';
import { BpftraceError } from './bpftrace-error';
import type { GapReason } from '../../session/types';
import type { TraceEvent } from './output';
import { underAny, type CgroupSeed, type Program, type ProgramTargets } from './program';

/** Vanished cgroups a program may hold in its maps before it is replaced by a clean one. */
const STALE_MAX = 4096;

export interface TraceGap {
  /** The last moment known traced. */
  from: Date;
  /** Traced again. */
  to: Date;
  /** The agent's own restarts, and merged gaps, are the controller's to name. */
  reason: Exclude<GapReason, 'AgentRestarted' | 'Several'>;
  /** Only these cgroups; undefined: everything the node traces. */
  cgroups?: string[];
}

export interface TracerHooks {
  /** What should be traced now; undefined or empty means nothing (no bpftrace runs). */
  targets(): ProgramTargets;
  program(t: ProgramTargets): Program;
  onEvent(e: TraceEvent, run: BpftraceRun): void;
  /** bpftrace failed (to start, or died); `undefined` once a program runs again. */
  onHealth(error: BpftraceError | undefined): void;
  onAttached?(): void;
  /** A switch begins: what is known so far is best written now, in case the agent dies meanwhile. */
  onSwitch?(): void;
  /** Nothing was traced (for the cgroups named) in this interval. */
  onGap?(gap: TraceGap): void;
  /** Whether a cgroup still runs anything; a program that traces only vanished extras needs no replacing. */
  running?(cgroup: string): boolean;
  log?(msg: string): void;
}

export interface TracerOptions extends BpftraceOptions {
  /** Pause after a new program attached, for the old ones' last events to arrive. */
  settleMs?: number;
  maxBackoffMs?: number;
  /** The programs' print interval: a dead program's unprinted sets are at most this old. */
  intervalMs?: number;
  /** A program that traces only cgroups nobody wants any more is replaced at most this often. */
  extraSwitchMs?: number;
}

interface Live {
  run: BpftraceRun;
  want: ProgramTargets;
  extra?: string;
  prefixes: Set<string>;
  seeded: Map<string, boolean>;
  armed: Set<string>;
  recording: Set<string>;
  /** In service: it covered everything known once attached (the newest such is authoritative). */
  accepted: boolean;
  /** When its last interval print was read to its end (every set in it). */
  lastPrint?: number;
  /** How many interval prints of it were read to their end. */
  ticks: number;
}

export function isEmpty(t: ProgramTargets): boolean {
  return t.seeds.length === 0 && t.podPrefixes.length === 0;
}

type Coverage = Pick<Live, 'prefixes' | 'seeded' | 'armed' | 'recording'> & Partial<Pick<Live, 'extra'>>;

/** Does a program (with what it has reported) trace everything `want` asks for? */
export function covers(l: Coverage, want: ProgramTargets): boolean {
  if ((l.extra ?? '') !== (want.extra ?? []).join(' ')) return false;
  for (const p of want.podPrefixes) if (!underAny(p, l.prefixes)) return false;
  return missing(l, want).length === 0;
}

/**
 * The cgroups `want` asks for that a program does not trace: neither seeded nor armed, or recording
 * elsewhere (its exec was seen by an older program) while this one still waits for the exec.
 */
export function missing(l: Coverage, want: { readonly seeds: readonly CgroupSeed[] }): string[] {
  return want.seeds
    .filter((s) => {
      const seeded = l.seeded.get(s.id);
      if (seeded === undefined && !l.armed.has(s.id)) return true;
      return s.recording && seeded !== true && !l.recording.has(s.id);
    })
    .map((s) => s.id);
}

/** Does program `a` trace everything of `want` that program `b` traces (as far as both reported)? */
export function tracesAllOf(a: Coverage, b: Coverage, want: ProgramTargets): boolean {
  for (const p of want.podPrefixes) if (underAny(p, b.prefixes) && !underAny(p, a.prefixes)) return false;
  const bLacks = new Set(missing(b, want));
  return missing(a, want).every((id) => bLacks.has(id));
}

/**
 * Does a program trace pods or cgroups no longer wanted (so a smaller one should replace it)? A
 * cgroup armed by a broad prefix that turned out not to be a target is such an extra.
 */
export function hasExtra(
  l: Pick<Live, 'prefixes'> & Partial<Pick<Live, 'armed'>>,
  want: ProgramTargets,
  running: (cgroup: string) => boolean = () => true,
): 'prefix' | 'cgroup' | undefined {
  const wanted = new Set(want.podPrefixes);
  let extra: 'cgroup' | undefined;
  for (const p of l.prefixes) {
    if (wanted.has(p)) continue;
    // A deleted pod's prefix under the node's arms nothing more than the node's does.
    if (underAny(p, wanted)) extra = 'cgroup';
    else return 'prefix';
  }
  const seeds = new Set(want.seeds.map((s) => s.id));
  let vanished = 0;
  for (const id of l.armed ?? []) {
    if (seeds.has(id)) continue;
    if (running(id)) return 'cgroup';
    // Each stays in the program's maps: a long-lived program under churn must not fill them.
    if (++vanished >= STALE_MAX) return 'cgroup';
  }
  return extra;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** How many replacements a switch tries before it takes the newest program with what it missed. */
const SWITCH_ATTEMPTS = 3;

/** What the session controller uses of a tracer. */
export type TracerLike = Pick<
  Tracer,
  | 'reconcile'
  | 'close'
  | 'attachedTargets'
  | 'untraced'
  | 'untracedSince'
  | 'untracedCgroups'
  | 'runningCount'
  | 'drained'
>;

export class Tracer {
  private lives: Live[] = [];
  private busy = false;
  private again = false;
  private closed = false;
  private failures = 0;
  /** The last health reported was an error. */
  private failing = false;
  private retryTimer?: NodeJS.Timeout;
  private extraTimer?: NodeJS.Timeout;
  private lastSwitch = 0;
  private stopping = new Set<BpftraceRun>();
  /** Since when nothing has been traced, while targets are wanted (bpftrace died or fails to start). */
  private downSince?: number;
  /** Cgroups a switch left untraced, since when: reported once a program covers them. */
  private readonly missed = new Map<string, number>();

  constructor(
    private readonly hooks: TracerHooks,
    private readonly opts: TracerOptions,
  ) {}

  /** The newest program's process, for tests and logs. */
  get current(): BpftraceRun | undefined {
    return this.lives[this.lives.length - 1]?.run;
  }

  get runningCount(): number {
    return this.lives.length;
  }

  /** What the program in service traces (not one still compiling); undefined when none is. */
  get attachedTargets(): ProgramTargets | undefined {
    return this.serving()?.want;
  }

  /**
   * Of these cgroups, those the program in service does not trace (all of them while none serves):
   * its prefixes arm only cgroups made after it started, so a container already running is traced
   * only when seeded.
   */
  untraced(seeds: readonly CgroupSeed[]): string[] {
    const serving = this.serving();
    return serving ? missing(serving, { seeds }) : seeds.map((s) => s.id);
  }

  /** Since when nothing is traced although targets are wanted (bpftrace died); undefined while traced. */
  get untracedSince(): Date | undefined {
    return this.downSince === undefined ? undefined : new Date(this.downSince);
  }

  /** Cgroups a switch left untraced (no program covers them yet), each since when. */
  get untracedCgroups(): ReadonlyMap<string, Date> {
    return new Map([...this.missed].map(([id, from]) => [id, new Date(from)]));
  }

  /**
   * Resolves once what the programs traced before the call has been read: each one running then
   * printed twice more (its first print may have been under way already) or ended, and each one
   * being stopped then ended; false when
   * `withinMs` passed first (a program that stopped printing). The print's timing cannot stand in
   * for this: on a busy node bpftrace's output may lag an interval behind.
   */
  async drained(withinMs: number): Promise<boolean> {
    const until = new Map(this.lives.map((l) => [l, l.ticks + 2]));
    // One being stopped prints what it holds at its END: read once it has exited.
    const ending = [...this.stopping];
    const done = () =>
      [...until].every(([l, n]) => l.run.exited || l.ticks >= n) && ending.every((r) => r.exited);
    const deadline = Date.now() + withinMs;
    while (!done()) {
      if (Date.now() >= deadline) return false;
      await sleep(25);
    }
    return true;
  }

  private serving(): Live | undefined {
    return [...this.lives].reverse().find((l) => l.accepted && !l.run.exited);
  }

  /** Brings the programs in line with hooks.targets(); calls made while busy coalesce into one more pass. */
  async reconcile(): Promise<void> {
    if (this.closed) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.closed);
    } finally {
      this.busy = false;
    }
  }

  private async pass(): Promise<void> {
    let want = this.hooks.targets();
    if (isEmpty(want)) return this.stopAll();
    const serving = this.serving();
    let tidyOnly = false;
    if (serving && covers(serving, want)) {
      // What is wanted is traced: an earlier failure (of a program wanted then) is over.
      this.healthy();
      const extra = hasExtra(serving, want, (id) => this.hooks.running?.(id) ?? true);
      if (!extra) return this.reportMissed(serving, want, new Date());
      // Cgroups of pods that turned out not to be targets cost little; under pod churn, replacing
      // the program for each would keep a switch always pending.
      if (extra === 'cgroup' && !this.switchAllowed()) return;
      tidyOnly = extra === 'cgroup';
    }
    this.lastSwitch = Date.now();
    if (serving) this.hooks.onSwitch?.();
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) {
        // Stopping the last attempt took seconds, in which sessions may have come or gone: what
        // the one in service covers needs no other program (one that came may be its own).
        want = this.hooks.targets();
        const inService = this.serving();
        if (!isEmpty(want) && inService && covers(inService, want))
          return this.reportMissed(inService, want, new Date());
      }
      // The sessions may have ended while the last attempt compiled: a program of nothing does not compile.
      if (isEmpty(want)) return this.stopAll();
      const live = await this.startLive(want);
      if (!live) return;
      // Events the older programs printed just before are still in their pipes.
      await sleep(this.opts.settleMs ?? 50);
      // It died as soon as it attached: the one in service (if any) serves on; a retry is due.
      if (live.run.exited) return;
      want = this.hooks.targets();
      const lacking = missing(live, want);
      // A switch only to shed extras is never worth a gap: while the one in service traces all this
      // one does (cgroups made since are armed by its prefixes, their reports maybe still in its
      // pipe), it serves on and the tidying is tried again later (pod churn may have paused).
      const inService = this.serving();
      if (tidyOnly && lacking.length && inService && tracesAllOf(inService, live, want)) {
        this.hooks.log?.(
          `program ${live.run.id} missed cgroups that appeared while it attached; program ${inService.run.id} serves on`,
        );
        await this.stop([live]);
        this.switchAllowed();
        return;
      }
      // With none in service, any program is better than none: it is taken, and what it missed is a gap.
      if (covers(live, want) || attempt >= SWITCH_ATTEMPTS || !this.serving()) {
        if (lacking.length) {
          this.hooks.log?.(
            `program ${live.run.id} taken with ${lacking.length} cgroups missed; replacing it`,
          );
          const at = Date.now();
          for (const id of lacking) if (!this.missed.has(id)) this.missed.set(id, at);
          this.again = true;
        }
        // What it covers is traced from here, not from when the older ones are stopped.
        const tracedAt = new Date();
        this.accept(live);
        await this.stop(this.lives.filter((l) => l !== live));
        return this.reportMissed(live, want, tracedAt);
      }
      // The one in service still traces what this one missed: replace this one, keep that one.
      this.hooks.log?.(
        `program ${live.run.id} missed cgroups that appeared while it attached; starting another`,
      );
      await this.stop([live]);
    }
  }

  private async stopAll(): Promise<void> {
    await this.stop(this.lives);
    // Nothing is wanted any more: a gap still open ends here, and so does a failure.
    this.closeDown();
    this.missed.clear();
    this.healthy();
  }

  private healthy(): void {
    if (!this.failing) return;
    this.failing = false;
    this.hooks.onHealth(undefined);
  }

  private switchAllowed(): boolean {
    const wait = this.lastSwitch + (this.opts.extraSwitchMs ?? 10_000) - Date.now();
    if (wait <= 0) return true;
    if (!this.extraTimer) {
      this.extraTimer = setTimeout(() => {
        this.extraTimer = undefined;
        void this.reconcile();
      }, wait);
    }
    return false;
  }

  private accept(live: Live): void {
    live.accepted = true;
    this.closeDown();
    this.hooks.onAttached?.();
  }

  private closeDown(): void {
    if (this.downSince === undefined) return;
    this.hooks.onGap?.({ from: new Date(this.downSince), to: new Date(), reason: 'BpftraceExited' });
    this.downSince = undefined;
  }

  /** Cgroups a switch had missed that the program in service now covers: their gap is closed. */
  private reportMissed(live: Live, want: ProgramTargets, to: Date): void {
    if (!this.missed.size) return;
    const still = new Set(missing(live, want));
    const closed = [...this.missed].filter(([id]) => !still.has(id));
    for (const [id] of closed) this.missed.delete(id);
    const byFrom = new Map<number, string[]>();
    for (const [id, from] of closed) byFrom.set(from, [...(byFrom.get(from) ?? []), id]);
    for (const [from, cgroups] of byFrom) {
      this.hooks.onGap?.({ from: new Date(from), to, reason: 'ProgramSwitch', cgroups });
    }
  }

  private async startLive(want: ProgramTargets): Promise<Live | undefined> {
    const live: Live = {
      run: new BpftraceRun(this.hooks.program(want), (e, r) => this.event(e, r), this.opts),
      want,
      extra: (want.extra ?? []).join(' '),
      prefixes: new Set(want.podPrefixes),
      seeded: new Map(want.seeds.map((s) => [s.id, s.recording])),
      armed: new Set(),
      recording: new Set(),
      accepted: false,
      ticks: 0,
    };
    this.lives.push(live);
    this.hooks.log?.(
      `program ${live.run.id} starting: ${want.seeds.length} cgroups, ${want.podPrefixes.length} pod prefixes, ${live.extra}`,
    );
    try {
      await live.run.start();
    } catch (e) {
      this.lives = this.lives.filter((l) => l !== live);
      this.failed(e instanceof BpftraceError ? e : new BpftraceError(String(e), ''));
      return undefined;
    }
    this.failures = 0;
    this.failing = false;
    this.hooks.onHealth(undefined);
    this.hooks.log?.(
      `program ${live.run.id} attached (pid ${live.run.pid}): ${want.seeds.length} cgroups, ${want.podPrefixes.length} pod prefixes`,
    );
    void live.run.wait().then(() => this.exited(live));
    return live;
  }

  private event(e: TraceEvent, run: BpftraceRun): void {
    const live = this.lives.find((l) => l.run === run);
    if (live) {
      if (e.kind === 'armed') live.armed.add(e.cgroup);
      if (e.kind === 'exec' || e.kind === 'filter') live.recording.add(e.cgroup);
      if (e.kind === 'tick') {
        live.ticks++;
        live.lastPrint = Date.now();
      }
    }
    this.hooks.onEvent(e, run);
  }

  /** Stops programs (SIGINT: their END prints what they still hold). */
  private async stop(lives: Live[]): Promise<void> {
    this.lives = this.lives.filter((l) => !lives.includes(l));
    await Promise.all(
      lives.map(async (l) => {
        this.stopping.add(l.run);
        await l.run.stop();
        this.stopping.delete(l.run);
        this.hooks.log?.(`program ${l.run.id} stopped`);
      }),
    );
  }

  private exited(live: Live): void {
    if (this.stopping.has(live.run) || this.closed || !this.lives.includes(live)) return;
    // Died on its own: what its maps held since its last print is lost, and nothing traces until
    // a replacement is in service (unless another program still serves).
    this.lives = this.lives.filter((l) => l !== live);
    if (live.accepted && !this.serving() && this.downSince === undefined) {
      const interval = this.opts.intervalMs ?? 1000;
      this.downSince = Math.max(live.lastPrint ?? 0, Date.now() - interval);
    }
    this.failed(
      new BpftraceError(
        `bpftrace exited unexpectedly${live.run.stderr ? `: ${live.run.stderr}` : ''}`,
        live.run.stderr,
      ),
    );
  }

  private failed(e: BpftraceError): void {
    this.failures++;
    this.failing = true;
    this.hooks.onHealth(e);
    this.hooks.log?.(`${e.message}`);
    if (this.closed || this.retryTimer) return;
    const delay = Math.min(this.opts.maxBackoffMs ?? 30_000, 1000 * 2 ** Math.min(this.failures - 1, 5));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.reconcile();
    }, delay);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.extraTimer) clearTimeout(this.extraTimer);
    // Wait out a pass in progress, so no program is started behind our back.
    while (this.busy) await sleep(20);
    await this.stop(this.lives);
  }
}
