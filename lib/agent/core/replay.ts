/**
 * The replay seam: a tracer that runs no bpftrace but prints recorded output for the cgroups the
 * controller plans, so the real controller, recorders, status writing and session code can be
 * driven at scale (many agents on one machine, against a real API server) without a kernel.
 *
 * The seam is ControllerOptions.tracer (./controller): `tracer: replayTracer({...})` in place of
 * the default, which wraps ./tracer's bpftrace runs. Everything else is the agent's own path:
 * - on each reconcile it asks hooks.targets() and hooks.program(targets), the real planning and
 *   program assembly, and prints only the maps that program prints (its `print(@…)`s): a map of a
 *   kind no session asks for, or of the other phase's name, is never fed;
 * - a new program is reported as bpftrace reports one (attached_probes, harden:ready), then
 *   hooks.onHealth(undefined) and hooks.onAttached(), as ./tracer does when it takes one in service;
 * - every intervalMs it feeds the recording's lines through the real parser (./output's
 *   OutputReader over the recorders given), one line per recorded line with every recording seed
 *   filled in, as bpftrace prints one map for all cgroups.
 *
 * A recording is bpftrace `-f json` output with placeholders where the traced cgroup and its pod's
 * own addresses were: `$CGROUP`, `$IP4`, `$IP6` (see test/golden/agent/replay-recording.md, made
 * from captured 0.17 and 0.23 output). A key is filled in once per seed that is recording (armed
 * seeds wait for an exec the replay never sees); a key naming an address the seed's pod does not
 * have is left out for that seed.
 *
 * What it does not replay: cgroups armed after the program started (harden:armed), execs, map
 * overflows, bpftrace dying or failing to compile. Those paths are ./tracer's and are tested there.
 */
import type { Recorder } from './recorder';
import { OutputReader, type TraceEvent } from './output';
import type { CgroupSeed, ProgramTargets } from './program';
import type { TracerHooks, TracerLike } from './tracer';
import type { BpftraceRun } from './bpftrace';

export const CGROUP_PLACEHOLDER = '$CGROUP';
export const IP4_PLACEHOLDER = '$IP4';
export const IP6_PLACEHOLDER = '$IP6';

/** A traced cgroup as the recording's placeholders are filled in for it. */
export interface ReplaySeed {
  cgroup: string;
  ip4?: string;
  ip6?: string;
}

export interface ReplayOptions {
  /** Recorded `-f json` lines with placeholders; blank lines are ignored. */
  recording: readonly string[];
  /** The recorders whose maps the parser hands out (the agent's RECORDERS). */
  recorders: readonly Recorder[];
  /** How often the recording is printed: bpftrace's interval. */
  intervalMs: number;
  /** The addresses of a cgroup's pod, for `$IP4`/`$IP6`; without it such keys are never fed. */
  addresses?: (cgroup: string) => { ip4?: string; ip6?: string } | undefined;
  /** Sees every event fed, after the hooks did (a benchmark's account of what went in). */
  observe?: (e: TraceEvent) => void;
}

/** The maps a program's text prints: the only ones bpftrace would output. */
export function printedMaps(text: string): Set<string> {
  return new Set([...text.matchAll(/print\((@[A-Za-z0-9_]+)\)/g)].map((m) => m[1]));
}

/** A key with a seed filled in, or undefined when it names an address the seed lacks. */
function fill(key: string, seed: ReplaySeed): string | undefined {
  if (key.includes(IP4_PLACEHOLDER) && !seed.ip4) return undefined;
  if (key.includes(IP6_PLACEHOLDER) && !seed.ip6) return undefined;
  return key
    .split(CGROUP_PLACEHOLDER)
    .join(seed.cgroup)
    .split(IP4_PLACEHOLDER)
    .join(seed.ip4 ?? '')
    .split(IP6_PLACEHOLDER)
    .join(seed.ip6 ?? '');
}

/**
 * One interval's output: each recorded map line with every seed filled in (counts of keys that
 * coincide summed), restricted to the maps printed; lines left empty are dropped. Pure.
 */
export function replayLines(
  recording: readonly string[],
  seeds: readonly ReplaySeed[],
  printed: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  for (const line of recording) {
    if (!line.trim()) continue;
    const rec = JSON.parse(line) as { type?: unknown; data?: unknown };
    if (rec.type !== 'map' || !rec.data || typeof rec.data !== 'object') continue;
    const data: Record<string, Record<string, number>> = {};
    for (const [name, body] of Object.entries(rec.data as Record<string, unknown>)) {
      if (!printed.has(name) || !body || typeof body !== 'object') continue;
      const filled: Record<string, number> = {};
      for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
        if (typeof value !== 'number') continue;
        for (const seed of seeds) {
          const k = fill(key, seed);
          if (k !== undefined) filled[k] = (filled[k] ?? 0) + value;
        }
      }
      if (Object.keys(filled).length) data[name] = filled;
    }
    if (Object.keys(data).length) out.push(JSON.stringify({ type: 'map', data }));
  }
  return out;
}

/** A recording file's text → its lines. */
export function recordingLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim());
}

/** A program's probe blocks, counted the way bpftrace reports attached_probes (roughly: one per header). */
function probeCount(text: string): number {
  return text.split('\n').filter((l) => /^[a-z].*\{\s*$/.test(l) && !/^(BEGIN|END)\b/.test(l)).length;
}

export class ReplayTracer implements TracerLike {
  private readonly reader: OutputReader;
  private want?: ProgramTargets;
  private programText?: string;
  private printed = new Set<string>();
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** Programs "started" so far: the controller's switches, for tests and benchmarks. */
  programs = 0;

  constructor(
    private readonly hooks: TracerHooks,
    private readonly opts: ReplayOptions,
  ) {
    this.reader = new OutputReader(opts.recorders);
  }

  get attachedTargets(): ProgramTargets | undefined {
    return this.want;
  }

  /** What its targets do not seed (each program it "starts" serves at once). */
  untraced(seeds: readonly CgroupSeed[]): string[] {
    const seeded = new Set(this.want?.seeds.map((s) => s.id));
    return seeds.filter((s) => !seeded.has(s.id)).map((s) => s.id);
  }

  /** Nothing is ever untraced: the replay neither dies nor misses a switch. */
  get untracedSince(): Date | undefined {
    return undefined;
  }

  get untracedCgroups(): ReadonlyMap<string, Date> {
    return new Map();
  }

  get runningCount(): number {
    return this.want ? 1 : 0;
  }

  /** Each print is fed to the controller as it is made: nothing traced waits to be read. */
  async drained(): Promise<boolean> {
    return true;
  }

  async reconcile(): Promise<void> {
    if (this.closed) return;
    const want = this.hooks.targets();
    if (!want.seeds.length && !want.podPrefixes.length) {
      this.stop();
      return;
    }
    const program = this.hooks.program(want);
    if (program.text !== this.programText) {
      // A switch, as ./tracer makes one: what is known is written first, then the new one serves.
      if (this.programText !== undefined) this.hooks.onSwitch?.();
      this.programText = program.text;
      this.printed = printedMaps(program.text);
      this.programs++;
      this.feed(`{"type": "attached_probes", "data": {"probes": ${probeCount(program.text)}}}`);
      this.feed(JSON.stringify({ type: 'printf', data: 'harden:ready\n' }));
      this.want = want;
      this.hooks.onHealth(undefined);
      this.hooks.onAttached?.();
    } else this.want = want;
    this.timer ??= setInterval(() => this.tick(), this.opts.intervalMs);
  }

  /** One interval's print, now (the timer calls it; tests may too). */
  tick(): void {
    if (!this.want || this.closed) return;
    const seeds = this.want.seeds
      .filter((s) => s.recording)
      .map((s) => ({ cgroup: s.id, ...this.opts.addresses?.(s.id) }));
    for (const line of replayLines(this.opts.recording, seeds, this.printed)) this.feed(line);
  }

  private feed(line: string): void {
    for (const e of this.reader.parse(line)) {
      // The controller's hooks never read the run (it identifies a bpftrace process to ./tracer's
      // own bookkeeping); there is none here.
      this.hooks.onEvent(e, undefined as unknown as BpftraceRun);
      this.opts.observe?.(e);
    }
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.want = undefined;
    this.programText = undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stop();
  }
}

/** The ControllerOptions.tracer that replays `opts.recording` (see the module's comment). */
export function replayTracer(opts: ReplayOptions): (hooks: TracerHooks) => ReplayTracer {
  return (hooks) => new ReplayTracer(hooks, opts);
}
