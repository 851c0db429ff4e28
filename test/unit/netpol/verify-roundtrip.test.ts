import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { compileDocuments } from '../../../lib/netpol/policy';
import { PolicySet } from '../../../lib/netpol/verify';
import { readConnections, verifyLog } from '../../../lib/netpol/verify-log';
import { goldenCases, logText, reportText } from './helpers';

const GENERATOR = path.resolve(__dirname, '..', '..', '..', 'scripts', 'gen-flow-log.mjs');

/** report's policies, then verify of the same log against them. */
async function roundTrip(text: string) {
  const { policies } = await reportText(text);
  const { policies: compiled } = compileDocuments(
    policies.map((object) => ({ source: 'report', object })),
    'default',
  );
  const log = await readConnections(Readable.from([Buffer.from(text)]), { skipInvalid: false });
  return { result: verifyLog(log, new PolicySet(compiled)), policies: compiled.length };
}

describe('report → verify round trip: the report’s own policies deny none of its flows', () => {
  it.each(goldenCases())('golden log %s', async (name) => {
    const { result } = await roundTrip(logText(name));
    expect(result.denied).toEqual([]);
    expect(result.deniedConnections).toBe(0);
  });

  it.each([
    [1, []],
    [7, []],
    [42, ['--inline']],
  ])(
    'generated log, seed %d %j',
    async (seed, extra) => {
      const text = execFileSync(
        process.execPath,
        [GENERATOR, '20000', '-', '--seed', String(seed), ...extra],
        {
          encoding: 'utf8',
          maxBuffer: 64 << 20,
        },
      );
      const { result, policies } = await roundTrip(text);
      // Something to verify: every workload has a policy and most flows are judged by two of them.
      expect(policies).toBe(9);
      expect(result.connections).toBeGreaterThan(300);
      expect(result.denied).toEqual([]);
    },
    60_000,
  );

  it('and it can fail: the same policies deny what the log did not show', async () => {
    const text = logText('cross-namespace-pod');
    const { policies } = await reportText(text);
    const { policies: compiled } = compileDocuments(
      policies.map((object) => ({ source: 'report', object })),
      'default',
    );
    // One more flow from the same workload to a port it never used.
    const lines = text.trim().split('\n');
    const flow = JSON.parse(lines.find((l) => l.includes('"kind":"flow"')) ?? '{}');
    const port = flow.direction === 'ingress' ? 'localPort' : 'remotePort';
    lines.push(JSON.stringify({ ...flow, [port]: 1 }));
    const log = await readConnections(Readable.from([Buffer.from(lines.join('\n'))]), { skipInvalid: false });
    expect(verifyLog(log, new PolicySet(compiled)).deniedConnections).toBe(1);
  });
});
