import { open } from 'node:fs/promises';
import { HardenError } from '../errors';
import { processIo } from './context';
import type { NetpolReportArgs } from './netpol';
import { outputFormat, toJson, toYamlDocuments } from './output';
import { FlowLogError } from '../netpol/log';
import { report, type ReportResult } from '../netpol/report';

/** `kubectl harden netpol report`: the log from a file or stdin, policies to stdout, the summary to stderr. */
export async function runNetpolReport(argv: NetpolReportArgs): Promise<void> {
  const io = processIo(argv);
  const format = outputFormat(argv.output, ['yaml', 'json'], 'yaml');
  const input = argv.input === '-' ? process.stdin : await openLog(argv.input);
  let result: ReportResult;
  try {
    result = await report(input, {
      skipInvalid: argv.skipInvalid,
      onProgress: (n) => io.progress(`read ${n} lines…`),
    });
  } catch (e) {
    throw explain(e, argv.input);
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
