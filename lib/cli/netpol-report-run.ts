import type { Io } from './context';
import { explain, openLog } from './flow-log-input';
import { toJson, toYamlDocuments } from './output';
import { report, type ReportResult } from '../netpol/report';

/** `kubectl harden netpol report`: the log from a file or stdin, policies to stdout, the summary to stderr. */
export interface NetpolReportOptions {
  /** The flow log's path, or - for stdin. */
  input: string;
  skipInvalid: boolean;
  output: 'yaml' | 'json';
}

export async function runNetpolReport(
  opts: NetpolReportOptions,
  { io, stdin = process.stdin }: { io: Io; stdin?: NodeJS.ReadableStream },
): Promise<void> {
  const format = opts.output;
  const input = await openLog(opts.input, stdin);
  let result: ReportResult;
  try {
    result = await report(input, {
      skipInvalid: opts.skipInvalid,
      onProgress: (n) => io.progress(`read ${n} lines…`),
    });
  } catch (e) {
    throw explain(e, opts.input);
  } finally {
    io.done();
  }
  const { policies } = result;
  io.out(
    format === 'json'
      ? toJson({ apiVersion: 'v1', kind: 'List', items: policies })
      : toYamlDocuments(policies),
  );
  for (const note of result.notes) io.err(`note: ${note}`);
  if (result.flows === 0) io.err('note: the log holds no flows (header only); no policies to write');
  io.err(
    `${result.flows} flows, ${policies.length} ${policies.length === 1 ? 'policy' : 'policies'}, ` +
      `${result.skipped} lines skipped`,
  );
}
