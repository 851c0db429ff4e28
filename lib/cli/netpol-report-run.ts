import { open } from 'node:fs/promises';
import { HardenError } from '../errors';
import type { Io } from './context';
import { toJson, toYamlDocuments } from './output';
import { FlowLogError } from '../netpol/log';
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
  const input = opts.input === '-' ? stdin : await openLog(opts.input);
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

async function openLog(path: string): Promise<NodeJS.ReadableStream> {
  try {
    // Opened up front so a missing file is reported here, not as a stream error halfway through.
    const handle = await open(path, 'r');
    return handle.createReadStream({ highWaterMark: 1 << 20 });
  } catch (e) {
    throw new HardenError(
      `cannot read flow log "${path}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      'Pass the file written by `kubectl harden netpol monitor --output FILE`, or - for stdin.',
    );
  }
}

function explain(e: unknown, path: string): unknown {
  const where = path === '-' ? 'stdin' : `"${path}"`;
  if (e instanceof FlowLogError) {
    // Only flow lines are skippable; a broken header means this is not (this version of) a flow log.
    const hint =
      e.line > 1
        ? 'Fix or remove the line, or pass --skip-invalid to count and skip malformed lines.'
        : 'Is this a log written by `kubectl harden netpol monitor`?';
    return new HardenError(`flow log ${where}: ${e.message}`, hint);
  }
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string')
    return new HardenError(`cannot read flow log ${where}: ${err.message}`);
  return e;
}
