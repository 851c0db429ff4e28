import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { report } from '../../../lib/netpol/report';
import { logText, reportText } from './helpers';

const GENERATOR = path.resolve(__dirname, '..', '..', '..', 'scripts', 'gen-flow-log.mjs');

/** A log with its third line (a flow) replaced by garbage and a bad port on the fifth. */
function brokenLog(): string {
  const lines = logText('several-ports-one-peer').trim().split('\n');
  lines[2] = '{"kind":"flow", oops';
  lines[4] = lines[4].replace('"remotePort":9000', '"remotePort":0');
  return lines.join('\n') + '\n';
}

describe('report', () => {
  it('fails on a malformed line, naming it', async () => {
    await expect(reportText(brokenLog())).rejects.toThrow(/^line 3: not JSON/);
  });

  it('with skipInvalid counts the malformed lines and keeps the rest', async () => {
    const r = await reportText(brokenLog(), true);
    expect(r).toMatchObject({ skipped: 2, flows: 2, lines: 5 });
    expect(r.policies[0].spec.egress[1].ports).toEqual([
      { protocol: 'TCP', port: 8080 },
      { protocol: 'TCP', port: 9090 },
    ]);
  });

  it('never skips a bad header', async () => {
    const text = logText('dns').replace('"version":1', '"version":"one"');
    await expect(reportText(text, true)).rejects.toThrow('line 1: version: expected an integer');
  });

  it('refuses an empty input', async () => {
    await expect(reportText('')).rejects.toThrow('the flow log is empty: no header line');
  });

  it('takes CRLF line ends, blank lines and a missing final newline', async () => {
    const lf = await reportText(logText('same-namespace-pod'));
    const crlf = await reportText('\r\n' + logText('same-namespace-pod').trim().replace(/\n/g, '\r\n\r\n'));
    expect(crlf.policies).toEqual(lf.policies);
  });

  it('splits lines across chunk boundaries, even inside a multi-byte character', async () => {
    // In the workload's name, which the policy's annotation carries as it is.
    const text = logText('unstable-labels-dropped').replaceAll(
      '"name":"frontend"',
      '"name":"frontend-zürich"',
    );
    const bytes = Buffer.from(text);
    const chunks = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) =>
      bytes.subarray(i * 7, i * 7 + 7),
    );
    const whole = await reportText(text);
    const split = await report(Readable.from(chunks), { skipInvalid: false });
    expect(split.policies).toEqual(whole.policies);
    expect(JSON.stringify(split.policies)).toContain('zürich');
  });

  it('reports a read error of the stream', async () => {
    const failing = new Readable({
      read() {
        this.destroy(new Error('EIO: i/o error, read'));
      },
    });
    await expect(report(failing, { skipInvalid: false })).rejects.toThrow('EIO');
  });
});

describe('report memory', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netpol-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  // A full collection on demand, so what is measured is what the report retains, not garbage.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;

  function retained(): number {
    gc();
    return process.memoryUsage().heapUsed;
  }

  it('stays flat: the heap retained after 200k flows is what it was after 20k', async () => {
    const file = path.join(dir, 'flows.jsonl');
    execFileSync(process.execPath, [GENERATOR, '200000', file]);
    const samples: number[] = [];
    const r = await report(fs.createReadStream(file, { highWaterMark: 1 << 20 }), {
      skipInvalid: false,
      progressEvery: 20_000,
      onProgress: () => samples.push(retained()),
    });
    expect(r.flows).toBe(200_000);
    const [first, last] = [samples[0], samples[samples.length - 1]];
    if (process.env.SHOW_HEAP) console.log(samples.map((s) => Math.round(s / 1e6)));
    // Keeping each flow (~0.5 KB as objects) would add ~90 MB between the samples: a ratio of 2 or more.
    expect(last / first).toBeLessThan(1.1);
  }, 60_000);
});
