import { StringDecoder } from 'node:string_decoder';
import { FlowLogError, FlowLogReader, type Flow, type FlowLogHeader } from './log';
import { PolicySynthesizer, type NetworkPolicy } from './synthesize';

export interface ReadOptions {
  /** Count malformed lines after the header instead of failing on the first. A bad header always fails. */
  skipInvalid: boolean;
  /** Called every `progressEvery` lines (default 100 000). */
  onProgress?: (lines: number) => void;
  progressEvery?: number;
}

export type ReportOptions = ReadOptions;

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
}

export interface ReportResult extends LogSummary {
  policies: NetworkPolicy[];
  /** Assumptions and traffic no rule could express, for stderr. */
  notes: string[];
}

/**
 * Streams a flow log into its consumer: every header (the first, then those of concatenated logs)
 * and every flow with its identities resolved. Fails with a FlowLogError naming the line when a line
 * is malformed (unless skipped), and with the stream's own error when reading fails.
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
  const every = opts.progressEvery ?? 100_000;
  await eachLine(input, (text) => {
    lines++;
    if (opts.onProgress && lines % every === 0) opts.onProgress(lines);
    if (text.trim() === '') return;
    try {
      const line = reader.read(text, lines);
      if (line === null) return; // a target or peer definition, kept by the reader
      if (line.kind === 'flow') {
        flows++;
        on.flow(line);
      } else on.header(line);
    } catch (e) {
      // Past a good header a bad line is one lost flow; before it, the whole log is unreadable.
      if (opts.skipInvalid && e instanceof FlowLogError && reader.header) skipped++;
      else throw e;
    }
  });
  const header = reader.header;
  if (!header) throw new FlowLogError(0, 'the flow log is empty: no header line');
  return { skipped, lines, flows, header };
}

/** Streams a flow log into policies: one chunk in memory at a time, everything else folded into the synthesizer. */
export async function report(input: NodeJS.ReadableStream, opts: ReportOptions): Promise<ReportResult> {
  let synth: PolicySynthesizer | undefined;
  const summary = await readFlowLog(input, opts, {
    header: (h) => {
      if (!synth) synth = new PolicySynthesizer(h.dns);
      else synth.learnDns(h.dns); // `cat monday.log tuesday.log`: one report over both
    },
    flow: (f) => synth?.add(f),
  });
  const s = synth as PolicySynthesizer; // readFlowLog fails without a header
  const policies = s.policies();
  return { ...summary, policies, flows: s.flows, notes: s.notes() };
}

const MAX_LINE = 16 << 20;

/**
 * Calls onLine for each line (without its \n or \r\n), synchronously per chunk, so the stream
 * reads no further ahead than one chunk. Not readline: its regex split and one event per line cost
 * a quarter of the report's time at a million lines. Rejects with the first error onLine throws.
 */
export function eachLine(input: NodeJS.ReadableStream, onLine: (text: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let rest = '';
    let done = false;
    const emit = (text: string, from: number, to: number): void =>
      onLine(text.slice(from, to > from && text.charCodeAt(to - 1) === 13 ? to - 1 : to));
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
        const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
        let from = 0;
        for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
          emit(text, from, nl);
          from = nl + 1;
        }
        rest = text.slice(from);
        // A flow line is a few hundred bytes; without a newline in sight this is not a flow log.
        if (rest.length > MAX_LINE)
          throw new Error(`a line longer than ${MAX_LINE >> 20} MiB: not a flow log`);
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
