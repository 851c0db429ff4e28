import { createInterface } from 'node:readline';
import { FlowLogError, parseLine, type FlowLogHeader } from './log';
import { PolicySynthesizer, type NetworkPolicy } from './synthesize';

export interface ReportOptions {
  /** Count malformed flow lines instead of failing on the first. A bad header always fails. */
  skipInvalid: boolean;
  /** Called every `progressEvery` lines (default 100 000). */
  onProgress?: (lines: number) => void;
  progressEvery?: number;
}

export interface ReportResult {
  policies: NetworkPolicy[];
  /** Malformed lines skipped (only with skipInvalid). */
  skipped: number;
  /** Lines read, header and blank lines included. */
  lines: number;
  /** Flow lines folded into the policies. */
  flows: number;
  /** The first header; later ones (concatenated logs) only fill in what it lacked. */
  header: FlowLogHeader;
  /** Assumptions and traffic no rule could express, for stderr. */
  notes: string[];
}

/**
 * Streams a flow log into policies: one line in memory at a time, everything else folded into the
 * synthesizer. Fails with a FlowLogError naming the line when a line is malformed (unless skipped),
 * and with the stream's own error when reading fails.
 */
export function report(input: NodeJS.ReadableStream, opts: ReportOptions): Promise<ReportResult> {
  return new Promise((resolve, reject) => {
    let lines = 0;
    let skipped = 0;
    let header: FlowLogHeader | undefined;
    let synth: PolicySynthesizer | undefined;
    let failed = false;
    const every = opts.progressEvery ?? 100_000;
    const rl = createInterface({ input, crlfDelay: Infinity });

    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      rl.close();
      // readline does not forward the input's errors; a destroyed input stops reading for good.
      (input as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      reject(err);
    };

    // 'line' events rather than `for await`: no promise per line, which matters at a million lines.
    rl.on('line', (text) => {
      if (failed) return;
      lines++;
      if (opts.onProgress && lines % every === 0) opts.onProgress(lines);
      if (text.trim() === '') return;
      try {
        const line = parseLine(text, lines);
        if (line.kind === 'flow') {
          if (!synth)
            throw new FlowLogError(lines, 'a flow before the header: the log must start with a header line');
          synth.add(line);
        } else if (!synth) {
          header = line;
          synth = new PolicySynthesizer(line.dns);
        } else {
          synth.learnDns(line.dns); // `cat monday.log tuesday.log`: one report over both
        }
      } catch (e) {
        if (opts.skipInvalid && e instanceof FlowLogError && synth) skipped++;
        else fail(e);
      }
    });
    input.on('error', fail);
    rl.on('close', () => {
      if (failed) return;
      if (!synth || !header) {
        fail(new FlowLogError(0, 'the flow log is empty: no header line'));
        return;
      }
      const policies = synth.policies();
      resolve({ policies, skipped, lines, flows: synth.flows, header, notes: synth.notes() });
    });
  });
}
