import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { report, type ReportResult } from '../../../lib/netpol/report';
import type { SynthesisOptions } from '../../../lib/netpol/synthesize';

export const NETPOL_GOLDEN = path.resolve(__dirname, '..', '..', 'golden', 'netpol');

/** The cases: every test/golden/netpol/<case>.log.jsonl, with its expected <case>.yaml. */
export function goldenCases(): string[] {
  return fs
    .readdirSync(NETPOL_GOLDEN)
    .filter((f) => f.endsWith('.log.jsonl'))
    .map((f) => f.slice(0, -'.log.jsonl'.length))
    .sort();
}

export function logText(name: string): string {
  return fs.readFileSync(path.join(NETPOL_GOLDEN, `${name}.log.jsonl`), 'utf8');
}

export function reportText(
  text: string | Buffer,
  skipInvalid = false,
  opts: SynthesisOptions = {},
): Promise<ReportResult> {
  return report(Readable.from([Buffer.from(text)]), { skipInvalid, ...opts });
}
