import { open } from 'node:fs/promises';
import { HardenError } from '../errors';
import { printable } from './errors';
import { processIo } from './context';
import type { NetpolReportArgs } from './netpol';
import { outputFormat, toJson, toYamlDocuments } from './output';
import { toCiliumPolicy } from '../netpol/cilium';
import { sizeProblem } from '../netpol/limits';
import { FlowLogError } from '../netpol/log';
import { report, type ReportResult } from '../netpol/report';

/**
 * `kubectl harden netpol report`: the log from a file or stdin, policies to stdout, the summary to
 * stderr. `-o cilium` names the kind of object, as `seccomp -o crd` does: CiliumNetworkPolicy YAML.
 */
export async function runNetpolReport(argv: NetpolReportArgs): Promise<void> {
  const io = processIo(argv);
  const format = outputFormat(argv.output, ['yaml', 'json', 'cilium'], 'yaml');
  const input = argv.input === '-' ? process.stdin : await openLog(argv.input);
  let result: ReportResult;
  try {
    result = await report(input, {
      skipInvalid: argv.skipInvalid,
      aggregate: argv.aggregate,
      onProgress: (n) => io.progress(`read ${n} lines…`),
    });
  } catch (e) {
    throw explain(e, argv.input);
  } finally {
    io.done();
  }
  const objects = format === 'cilium' ? result.workloads.map(toCiliumPolicy) : result.policies;
  // All or nothing: a policy the API would refuse stops the report before anything is written.
  const tooBig = objects.map(sizeProblem).filter((p): p is string => p !== undefined);
  if (tooBig.length)
    throw new HardenError(
      printable(tooBig.join('\n')),
      argv.aggregate
        ? 'Split the monitored workload, or apply with `kubectl apply --server-side` (no last-applied annotation) if only that limit is exceeded.'
        : 'Pass --aggregate to fold external addresses into CIDRs, or apply with `kubectl apply --server-side` if only the annotation limit is exceeded.',
    );
  for (const note of result.notes) io.err(printable(`note: ${note}`));
  io.out(
    format === 'json' ? toJson({ apiVersion: 'v1', kind: 'List', items: objects }) : toYamlDocuments(objects),
  );
  if (result.flows === 0) io.err('note: the log holds no flows (header only); no policies to write');
  io.err(
    `${result.flows} flows, ${objects.length} ${objects.length === 1 ? 'policy' : 'policies'}, ` +
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

/** file:line: detail, the form editors and terminals turn into a link. */
function explain(e: unknown, path: string): unknown {
  const where = path === '-' ? '<stdin>' : path;
  if (e instanceof FlowLogError) {
    // Only flow lines are skippable; a broken header means this is not (this version of) a flow log.
    const hint =
      e.line > 1
        ? 'Fix or remove the line, or pass --skip-invalid to count and skip malformed lines.'
        : 'Is this a log written by `kubectl harden netpol monitor`?';
    return new HardenError(`flow log ${where}:${e.line > 0 ? `${e.line}:` : ''} ${e.detail}`, hint);
  }
  const err = e as NodeJS.ErrnoException;
  if (err && err.code === 'Z_DATA_ERROR')
    return new HardenError(
      `flow log ${where}: corrupt gzip data (${err.message})`,
      'Check it with `gzip -t`.',
    );
  if (err && typeof err.code === 'string')
    return new HardenError(`cannot read flow log ${where}: ${err.message}`);
  return e;
}
