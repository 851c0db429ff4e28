/**
 * A kind of recording session (seccomp, securitycontext, …) as the CLI offers it: one descriptor
 * per kind, from which lib/cli/session-group.ts builds the verb group (start, stop, show, list,
 * delete). Adding a kind is one descriptor module and one line in lib/cli/registry.ts.
 *
 * The descriptor itself is light (it is loaded for --help); what turns a session into its result
 * is behind `result()`, imported when a handler runs.
 */
import type { Argv } from 'yargs';
import type { Kube } from '../kube/client';
import type { SessionType, TraceSession } from '../session/types';
import type { Deps } from './context';
import type { AnyCommand } from './verb-group';

/** What every kind's show and stop take: -o, and --output-dir where the kind writes files. */
export interface ResultOptions {
  output: string;
  outputDir?: string;
}

/** A result as the verbs print it. */
export interface Rendered {
  /** stdout; with --output-dir, the files to write there instead (stdout then lists their paths). */
  out: string | { name: string; text: string }[];
  /** stderr lines: what the result assumes, or what it may lack. */
  notes: string[];
  /** Why nothing can be printed after all, said after the notes (which explain it). */
  failure?: Error;
  /** Parts of a workload's life the records did not show (already among the notes). */
  partialLife?: string[];
}

/** Why options cannot print a session (whatever the agents may still add), and the flags that would. */
export interface Unprintable {
  why: string;
  /** e.g. "--output-dir DIR (or -o crd)" */
  instead: string;
}

/** The half of a kind that turns a session into what the verbs print. */
export interface KindResult<O extends ResultOptions> {
  /** Checked on the running session before stop stops anything, and on the finished one after. */
  unprintable?(session: TraceSession, opts: O): Unprintable | undefined;
  /**
   * The session's result (called only when `unprintable` finds nothing). Pure for seccomp; securitycontext also reads the workloads' pod specs
   * through `kube` (what the spec sets but the workload never used). Throws a HardenError when
   * the session holds nothing to print.
   */
  render(session: TraceSession, opts: O, kube: Kube): Promise<Rendered>;
  /**
   * Each bounded set of the session's records that hit its bound, said as stderr names it (what
   * was cut, its bound, what the result therefore lacks). stop refuses a result built from one
   * unless --accept-truncated; a kind whose records have no bounded set leaves it out.
   */
  truncated?(session: TraceSession): string[];
  /**
   * Where stop's options send the result instead of stdout (seccomp: --install puts the profile
   * on the nodes); true when it did. A throw keeps the session.
   */
  deliver?(rendered: Rendered, opts: O, deps: Deps): Promise<boolean>;
}

export interface SessionKind<O extends ResultOptions = ResultOptions> {
  /** The verb group (`kubectl harden <group> start`), its aliases, and its session type. */
  group: string;
  aliases?: string[];
  type: SessionType;
  /** Generated session ids start with it (`sc-4f7k2`). */
  idPrefix: string;
  describe: {
    group: string;
    /** The verbs' --help lines. */
    start: string;
    stop: string;
    show: string;
    /** What stop and show print, e.g. "the seccomp profile(s)". */
    result: string;
    /** What the agents record, for what a gap may lose: "syscalls". */
    records: string;
    /** What a gap means for the result, in stop's refusal. */
    missing: string;
    /** A start example's flags, e.g. "-n web -p nginx-7c9". */
    example: string;
    /** What start's hint appends to the stop command, e.g. "> profile.json". */
    stopTail: string;
  };
  /** The containers recorded so far (list's CONTAINERS column), read with the kind's recorder reader. */
  containers(session: TraceSession): number;
  /** -o's formats, the first the default. */
  formats: readonly [string, ...string[]];
  /** --output-dir's description, where the kind writes one file per container. */
  outputDir?: string;
  /** Its records say what of each container's life was seen: stop offers --require-full-life. */
  recordsLife?: boolean;
  /** The result's own flags (seccomp: --runtime; securitycontext: --seccomp-profile). */
  resultFlags?<T>(y: Argv<T>): Argv<T>;
  /** Flags only stop offers (seccomp: --install NAME). */
  stopFlags?<T>(y: Argv<T>): Argv<T>;
  /** The kind's own verbs besides start, stop, show, list and delete (e.g. seccomp's install). */
  verbs?: AnyCommand[];
  /** The parsed flags as the result's options. */
  options(argv: ResultOptions & Record<string, unknown>): O;
  result(): Promise<KindResult<O>>;
}
