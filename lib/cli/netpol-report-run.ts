import { processIo } from './context';
import type { NetpolReportArgs } from './netpol';
import { explain, openLog } from './flow-log-input';
import { outputFormat, toJson, toYamlDocuments } from './output';
import { report, type ReportResult } from '../netpol/report';

/** `kubectl harden netpol report`: the log from a file or stdin, policies to stdout, the summary to stderr. */
export async function runNetpolReport(argv: NetpolReportArgs): Promise<void> {
  const io = processIo(argv);
  const format = outputFormat(argv.output, ['yaml', 'json'], 'yaml');
  const input = await openLog(argv.input);
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
