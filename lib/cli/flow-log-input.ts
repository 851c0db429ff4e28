import { open } from 'node:fs/promises';
import { HardenError } from '../errors';
import { FlowLogError, type GapLine } from '../netpol/log';
import { describeGap, type GapReport } from '../session/gaps';
import type { GapReason } from '../session/types';
import type { Io } from './context';
import { printable } from './errors';

/** How a network session's gaps are named: what they lose, and where. */
export const NETWORK_GAP_TERMS = { records: 'connections', result: 'the flow log' };

/** A gap line as the session's gap it was written from. */
export function gapReportOf(g: GapLine): GapReport {
  const where = g.pod && g.container ? `${g.pod}/${g.container}` : `node ${g.node}`;
  return {
    where,
    node: g.node,
    pod: g.pod,
    container: g.container,
    gap: { from: g.from, to: g.to, reason: g.reason as GapReason },
  };
}

/** A log's gaps, one note each, and what they mean for what was made of it (`consequence`). */
export function noteGaps(gaps: GapLine[], io: Io, consequence: string): void {
  if (!gaps.length) return;
  for (const g of gaps) io.err(printable(`note: ${describeGap(gapReportOf(g), NETWORK_GAP_TERMS)}`));
  io.err(`note: ${gaps.length} gap${gaps.length > 1 ? 's' : ''} in the log: ${consequence}`);
}

/** The flow log named by --input: a file, opened up front, or stdin for "-". */
export async function openLog(
  path: string,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<NodeJS.ReadableStream> {
  if (path === '-') return stdin;
  try {
    // Opened up front so a missing file is reported here, not as a stream error halfway through.
    const handle = await open(path, 'r');
    // 64 KiB reads: with 1 MiB ones a million-line report took twice the wall time for the same
    // CPU time here (each read a fresh buffer outside the pool).
    return handle.createReadStream({ highWaterMark: 1 << 16 });
  } catch (e) {
    throw new HardenError(
      `cannot read flow log "${path}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      'Pass the file written by `kubectl harden netpol monitor --output FILE`, or - for stdin.',
    );
  }
}

/** A reading failure as the user should see it, naming the log: `file:line: detail`, as editors link it. */
export function explain(e: unknown, path: string): unknown {
  const where = path === '-' ? '<stdin>' : path;
  if (e instanceof FlowLogError) {
    // Only flow lines are skippable; a broken header means this is not (this version of) a flow log.
    // Line 0: what the log's lines add up to (a label no API server accepts), found once all were read.
    const hint =
      e.line > 1
        ? 'Fix or remove the line, or pass --skip-invalid to count and skip malformed lines.'
        : e.line === 0
          ? 'The log was edited or damaged: correct what it names in the log, or remove the lines that carry it.'
          : 'Is this a log written by `kubectl harden netpol monitor`?';
    return new HardenError(`flow log ${where}:${e.line > 0 ? `${e.line}:` : ''} ${e.detail}`, hint);
  }
  const err = e as NodeJS.ErrnoException;
  if (err && err.code === 'Z_DATA_ERROR')
    return new HardenError(
      `flow log ${where}: corrupt gzip data (${err.message})`,
      'Check it with `gzip -t`.',
    );
  if (err && err.code === 'Z_BUF_ERROR')
    return new HardenError(
      `flow log ${where}: the gzip data ends early (${err.message}): the file is cut short`,
      'Copy it again once `netpol monitor` has stopped writing it; `gzip -dc` keeps what it holds, ' +
        'which report reads with --skip-invalid if its last line is cut.',
    );
  if (err && typeof err.code === 'string')
    return new HardenError(`cannot read flow log ${where}: ${err.message}`);
  return e;
}
