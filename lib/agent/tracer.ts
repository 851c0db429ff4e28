/**
 * Keeps one bpftrace program matching the wanted targets, switching by overlap: the new program is
 * started and attached before the old one is stopped, so no syscall falls in a gap.
 *
 * A switch is only complete when the new program covers everything known by then: a cgroup armed
 * or exec'd while the new one was compiling (reported by the old one) was not in its seeds. Then
 * another program is started from the newer knowledge, and the old ones keep running until one covers.
 */
import { BpftraceError, BpftraceRun, type BpftraceOptions } from './bpftrace';
import type { TraceEvent } from './output';
import type { Program, ProgramTargets } from './program';

export interface TracerHooks {
  /** What should be traced now; undefined or empty means nothing (no bpftrace runs). */
  targets(): ProgramTargets;
  program(t: ProgramTargets): Program;
  onEvent(e: TraceEvent, run: BpftraceRun): void;
  /** bpftrace failed (to start, or died); `undefined` once a program runs again. */
  onHealth(error: BpftraceError | undefined): void;
  onAttached?(): void;
  log?(msg: string): void;
}

interface Live {
  run: BpftraceRun;
  want: ProgramTargets;
  extra?: string;
  prefixes: Set<string>;
  seeded: Map<string, boolean>;
  armed: Set<string>;
  recording: Set<string>;
}

export function isEmpty(t: ProgramTargets): boolean {
  return t.seeds.length === 0 && t.podPrefixes.length === 0;
}

/** Does a program (with what it has reported) trace everything `want` asks for? */
export function covers(
  l: Pick<Live, 'prefixes' | 'seeded' | 'armed' | 'recording'> & Partial<Pick<Live, 'extra'>>,
  want: ProgramTargets,
): boolean {
  if ((l.extra ?? '') !== (want.extra ?? []).join(' ')) return false;
  for (const p of want.podPrefixes) if (!l.prefixes.has(p)) return false;
  for (const s of want.seeds) {
    const seeded = l.seeded.get(s.id);
    if (seeded === undefined && !l.armed.has(s.id)) return false;
    if (s.recording && seeded !== true && !l.recording.has(s.id)) return false;
  }
  return true;
}

/**
 * Does a program trace pods or cgroups no longer wanted (so a smaller one should replace it)? A
 * cgroup armed by a broad prefix that turned out not to be a target is such an extra.
 */
export function hasExtra(
  l: Pick<Live, 'prefixes'> & Partial<Pick<Live, 'armed'>>,
  want: ProgramTargets,
): boolean {
  const wanted = new Set(want.podPrefixes);
  for (const p of l.prefixes) if (!wanted.has(p)) return true;
  const seeds = new Set(want.seeds.map((s) => s.id));
  for (const id of l.armed ?? []) if (!seeds.has(id)) return true;
  return false;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What the session controller uses of a tracer. */
export type TracerLike = Pick<Tracer, 'reconcile' | 'close' | 'attachedTargets'>;

export class Tracer {
  private lives: Live[] = [];
  private busy = false;
  private again = false;
  private closed = false;
  private failures = 0;
  private retryTimer?: NodeJS.Timeout;
  private stopping = new Set<BpftraceRun>();

  constructor(
    private readonly hooks: TracerHooks,
    private readonly opts: BpftraceOptions & { settleMs?: number; maxBackoffMs?: number } = {},
  ) {}

  /** The newest program's process, for tests and logs. */
  get current(): BpftraceRun | undefined {
    return this.lives[this.lives.length - 1]?.run;
  }

  get runningCount(): number {
    return this.lives.length;
  }

  /** What the newest attached program traces (not one still compiling); undefined when none is. */
  get attachedTargets(): ProgramTargets | undefined {
    return [...this.lives].reverse().find((l) => l.run.ready)?.want;
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
    if (isEmpty(want)) {
      await this.stopOlder(this.lives.length);
      return;
    }
    const newest = this.lives[this.lives.length - 1];
    if (newest && covers(newest, want) && !hasExtra(newest, want)) return;
    // Start programs until the newest covers what is known once it is attached.
    for (let attempt = 0; attempt < 5; attempt++) {
      const live = await this.startLive(want);
      if (!live) return;
      // Events the older programs printed just before are still in their pipes.
      await sleep(this.opts.settleMs ?? 50);
      want = this.hooks.targets();
      if (covers(live, want)) break;
      this.hooks.log?.(
        `program ${live.run.id} missed cgroups that appeared while it attached; starting another`,
      );
    }
    await this.stopOlder(this.lives.length - 1);
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
    };
    this.lives.push(live);
    try {
      await live.run.start();
    } catch (e) {
      this.lives = this.lives.filter((l) => l !== live);
      this.failed(e instanceof BpftraceError ? e : new BpftraceError(String(e), ''));
      return undefined;
    }
    this.failures = 0;
    this.hooks.onHealth(undefined);
    this.hooks.onAttached?.();
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
    }
    this.hooks.onEvent(e, run);
  }

  /** Stops the `n` oldest programs (SIGINT: their END prints what they still hold). */
  private async stopOlder(n: number): Promise<void> {
    const old = this.lives.slice(0, Math.max(0, n));
    this.lives = this.lives.slice(old.length);
    await Promise.all(
      old.map(async (l) => {
        this.stopping.add(l.run);
        await l.run.stop();
        this.stopping.delete(l.run);
        this.hooks.log?.(`program ${l.run.id} stopped`);
      }),
    );
  }

  private exited(live: Live): void {
    if (this.stopping.has(live.run) || this.closed || !this.lives.includes(live)) return;
    // Died on its own: replace it (with backoff when it keeps failing).
    this.lives = this.lives.filter((l) => l !== live);
    this.failed(
      new BpftraceError(
        `bpftrace exited unexpectedly${live.run.stderr ? `: ${live.run.stderr}` : ''}`,
        live.run.stderr,
      ),
    );
  }

  private failed(e: BpftraceError): void {
    this.failures++;
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
    // Wait out a pass in progress, so no program is started behind our back.
    while (this.busy) await sleep(20);
    await this.stopOlder(this.lives.length);
  }
}
