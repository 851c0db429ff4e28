import { Readable, pipeline } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { FlowLogError, FlowLogReader, type Flow, type FlowLogHeader, type GapLine } from './log';
import {
  PolicySynthesizer,
  toNetworkPolicy,
  type NetworkPolicy,
  type SynthesisOptions,
  type WorkloadPolicy,
} from './synthesize';

export interface ReadOptions {
  /** Count malformed lines after the header instead of failing on the first. A bad header always fails. */
  skipInvalid: boolean;
  /** Called every `progressEvery` lines (default 100 000). */
  onProgress?: (lines: number) => void;
  progressEvery?: number;
}

export type ReportOptions = ReadOptions & SynthesisOptions;

/** What reading a log amounted to, whatever consumed its flows. */
export interface LogSummary {
  /** Malformed lines skipped (only with skipInvalid). */
  skipped: number;
  /** Lines read: header, definitions and blank lines included. */
  lines: number;
  /** Flow lines handed on. */
  flows: number;
  /** The first header; later ones (concatenated logs) only fill in what it lacked. */
  header: FlowLogHeader;
  /** Intervals the monitor did not trace, in log order (a gap written again as it grew: the longest). */
  gaps: GapLine[];
}

export interface ReportResult extends LogSummary {
  /** Each workload's rules, for any policy API (toNetworkPolicy, toCiliumPolicy). */
  workloads: WorkloadPolicy[];
  /** The same as Kubernetes NetworkPolicies. */
  policies: NetworkPolicy[];
  /** Assumptions and traffic no rule could express, for stderr. */
  notes: string[];
}

/**
 * Streams a flow log into its consumer: every header (the first, then those of concatenated logs)
 * and every flow with its identities resolved. Fails with a FlowLogError naming the line when a line
 * is malformed (unless skipped), and with the stream's own error when reading fails. A gzipped log
 * is read as it is (`monitor | gzip`, rotated logs); a UTF-8 byte order mark (editors on Windows) is
 * skipped.
 */
export async function readFlowLog(
  input: NodeJS.ReadableStream,
  opts: ReadOptions,
  on: { header(h: FlowLogHeader): void; flow(f: Flow): void },
): Promise<LogSummary> {
  const reader = new FlowLogReader();
  let lines = 0;
  let skipped = 0;
  let flows = 0;
  const gaps = new Map<string, GapLine>();
  const every = opts.progressEvery ?? 100_000;
  await eachLine(gunzipIfNeeded(input), (chunk, start, to) => {
    lines++;
    const from = lines === 1 && chunk.charCodeAt(start) === 0xfeff ? start + 1 : start;
    if (opts.onProgress && lines % every === 0) opts.onProgress(lines);
    // A flow line starts with its brace; only anything else needs the copy that trim() makes.
    if (chunk.charCodeAt(from) !== 0x7b && chunk.slice(from, to).trim() === '') return;
    try {
      const line = reader.readAt(chunk, from, to, lines);
      if (line === null) return; // a target or peer definition, kept by the reader
      if (line.kind === 'flow') {
        flows++;
        on.flow(line);
      } else if (line.kind === 'gap') {
        const key = `${line.node}/${line.pod ?? ''}/${line.container ?? ''}@${line.from}`;
        const known = gaps.get(key);
        if (!known || Date.parse(line.to) > Date.parse(known.to)) gaps.set(key, line);
      } else on.header(line);
    } catch (e) {
      // Past a good header a bad line is one lost flow; before it, the whole log is unreadable.
      if (opts.skipInvalid && e instanceof FlowLogError && reader.header) skipped++;
      else throw e;
    }
  });
  const header = reader.header;
  if (!header) throw new FlowLogError(0, 'the flow log is empty: no header line');
  return { skipped, lines, flows, header, gaps: [...gaps.values()] };
}

/** Streams a flow log into policies: one chunk in memory at a time, everything else folded into the synthesizer. */
export async function report(input: NodeJS.ReadableStream, opts: ReportOptions): Promise<ReportResult> {
  let synth: PolicySynthesizer | undefined;
  const summary = await readFlowLog(input, opts, {
    header: (h) => {
      if (!synth) synth = new PolicySynthesizer(h.dns, { aggregate: opts.aggregate });
      else synth.learnDns(h.dns); // `cat monday.log tuesday.log`: one report over both
    },
    flow: (f) => synth?.add(f),
  });
  const s = synth as PolicySynthesizer; // readFlowLog fails without a header
  const workloads = s.workloads();
  const policies = workloads.map(toNetworkPolicy);
  return { ...summary, workloads, policies, flows: s.flows, notes: s.notes() };
}

const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** The stream, gunzipped when its first bytes are gzip's magic number. */
function gunzipIfNeeded(input: NodeJS.ReadableStream): NodeJS.ReadableStream {
  async function* chunks(): AsyncGenerator<Buffer> {
    const it = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
    // A string chunk (a stream with an encoding set) becomes bytes; a Buffer is passed on, not copied.
    const bytes = (v: Buffer | string) => (typeof v === 'string' ? Buffer.from(v) : v);
    async function* all(head: Buffer): AsyncGenerator<Buffer> {
      yield head;
      for (let n = await it.next(); !n.done; n = await it.next()) yield bytes(n.value);
    }
    try {
      const first = await it.next();
      if (first.done) return;
      const head = bytes(first.value);
      if (!isGzip(head)) return yield* all(head);
      // pipeline, not pipe: a read error or corrupt data ends the iteration with that error.
      yield* pipeline(Readable.from(all(head)), createGunzip(), () => undefined) as AsyncIterable<Buffer>;
    } finally {
      // A reader that stopped early (a bad line) must not leave the file open.
      (input as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

const MAX_LINE = 16 << 20;
/**
 * Bytes decoded into one string at a time, however big the chunks the stream delivers: Node makes
 * a string of over ~1 MB an external one, and V8 keeps one of over 128 KiB outside its young
 * generation, both slower to read line by line than many small ones.
 */
const PIECE = 1 << 16;

/**
 * Calls onLine for each line: text[from, to), without its \n or \r\n, in the string it was
 * decoded in (no copy per line, except the one that spans two pieces). Synchronously per chunk,
 * so the stream reads no further ahead than one chunk. Not readline: its regex split and one
 * event per line cost a quarter of the report's time at a million lines. Rejects with the first
 * error onLine throws.
 */
export function eachLine(
  input: NodeJS.ReadableStream,
  onLine: (text: string, from: number, to: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let rest = '';
    let done = false;
    let count = 0;
    const emit = (text: string, from: number, to: number): void => {
      count++;
      onLine(text, from, to > from && text.charCodeAt(to - 1) === 13 ? to - 1 : to);
    };
    const piece = (text: string): void => {
      let nl = text.indexOf('\n');
      if (nl >= 0) {
        // The line begun in an earlier piece ends here: only that one is joined into a string of
        // its own; the others are read in place.
        if (rest === '') emit(text, 0, nl);
        else {
          const line = rest + text.slice(0, nl);
          rest = '';
          emit(line, 0, line.length);
        }
        let from = nl + 1;
        for (nl = text.indexOf('\n', from); nl >= 0; nl = text.indexOf('\n', from)) {
          emit(text, from, nl);
          from = nl + 1;
        }
        rest = text.slice(from);
      } else rest += text;
      // A flow line is a few hundred bytes; without a newline in sight this is not a flow log.
      if (rest.length > MAX_LINE)
        throw new FlowLogError(
          count + 1,
          `longer than ${MAX_LINE >> 20} MiB without a line break: not a flow log line`,
        );
    };
    const stop = (err: unknown): void => {
      if (done) return;
      done = true;
      input.removeAllListeners('data');
      // Stop reading for good (and close the file) rather than drain what nobody will look at.
      (input as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      reject(err);
    };
    input.on('data', (chunk: Buffer | string) => {
      if (done) return;
      try {
        if (typeof chunk === 'string') piece(chunk);
        else for (let i = 0; i < chunk.length; i += PIECE) piece(decoder.write(chunk.subarray(i, i + PIECE)));
      } catch (e) {
        stop(e);
      }
    });
    input.on('end', () => {
      if (done) return;
      try {
        const text = rest + decoder.end();
        if (text !== '') emit(text, 0, text.length);
        done = true;
        resolve();
      } catch (e) {
        stop(e);
      }
    });
    input.on('error', stop);
  });
}
