import { gzipSync } from 'node:zlib';
import { explain } from '../../../lib/cli/flow-log-input';
import type { HardenError } from '../../../lib/errors';
import { FlowLogError } from '../../../lib/netpol/log';
import { logText, reportText } from './helpers';

describe('flow log input a person hands in', () => {
  it('reads a gzipped log as it is', async () => {
    const plain = await reportText(logText('same-namespace-pod'));
    const zipped = await reportText(gzipSync(Buffer.from(logText('same-namespace-pod'))));
    expect(zipped.policies).toEqual(plain.policies);
    expect(zipped.flows).toBe(plain.flows);
  });

  it('says corrupt gzip data is corrupt', async () => {
    const zipped = gzipSync(Buffer.from(logText('same-namespace-pod')));
    const broken = Buffer.concat([zipped.subarray(0, 20), Buffer.alloc(40, 0xff)]);
    await expect(reportText(broken)).rejects.toMatchObject({ code: 'Z_DATA_ERROR' });
  });

  it('says a gzipped log cut short is cut short, and what to do', async () => {
    const zipped = gzipSync(Buffer.from(logText('same-namespace-pod')));
    const cut = await reportText(zipped.subarray(0, zipped.length - 30)).catch((e: unknown) => e);
    expect(cut).toMatchObject({ code: 'Z_BUF_ERROR' });
    const told = explain(cut, 'flows.log.gz') as HardenError;
    expect(told.message).toMatch(
      /^flow log flows\.log\.gz: the gzip data ends early \(.*\): the file is cut short$/,
    );
    expect(told.hint).toContain('gzip -dc');
  });

  it('a fault of the whole log (a label no API server accepts) is not blamed on its header', () => {
    const told = explain(
      new FlowLogError(0, 'web/Pod p: label "a"="-1" is not a valid Kubernetes label'),
      'f.log',
    );
    expect((told as HardenError).message).toBe(
      'flow log f.log: web/Pod p: label "a"="-1" is not a valid Kubernetes label',
    );
    expect((told as HardenError).hint).toMatch(/edited or damaged/);
  });

  it('accepts a UTF-8 byte order mark before the header', async () => {
    const r = await reportText(`\ufeff${logText('dns')}`);
    expect(r.policies).toEqual((await reportText(logText('dns'))).policies);
    expect(r.flows).toBeGreaterThan(0);
  });

  it('names the line that runs on past 16 MiB without a break', async () => {
    const lines = logText('dns').split('\n').length; // the last is the long one (the log ends in \n)
    const text = `${logText('dns')}${'x'.repeat(17 << 20)}`;
    const err = await reportText(text).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlowLogError);
    expect((err as FlowLogError).line).toBe(lines);
    expect((err as FlowLogError).message).toBe(
      `line ${lines}: longer than 16 MiB without a line break: not a flow log line`,
    );
  });

  it('refuses an IPv6 zone id at its line: no policy API can name it', async () => {
    const text = logText('external-ipv6').replace('"remoteIP":"2001:db8:40::7"', '"remoteIP":"fe80::7%eth0"');
    await expect(reportText(text)).rejects.toThrow(
      'line 2: remoteIP: "fe80::7%eth0" has an IPv6 zone id, which no NetworkPolicy can name; drop the line or the zone id',
    );
  });
});
