import { Readable } from 'node:stream';
import { compileDocuments } from '../../../lib/netpol/policy';
import { PolicySet } from '../../../lib/netpol/verify';
import { readConnections, verifyLog } from '../../../lib/netpol/verify-log';
import { goldenCases, logText, reportText } from './helpers';

/** report's policies, then verify of the same log against them: nothing may be denied. */
async function roundTrip(text: string) {
  const { policies } = await reportText(text);
  const { policies: compiled } = compileDocuments(
    policies.map((object) => ({ source: 'report', object })),
    'default',
  );
  const log = await readConnections(Readable.from([Buffer.from(text)]), { skipInvalid: false });
  return { result: verifyLog(log, new PolicySet(compiled)), policies: compiled.length };
}

describe('report → verify round trip', () => {
  it.each(goldenCases())('%s: the report’s own policies deny none of its flows', async (name) => {
    const { result } = await roundTrip(logText(name));
    expect(result.denied).toEqual([]);
    expect(result.deniedConnections).toBe(0);
  });
});
