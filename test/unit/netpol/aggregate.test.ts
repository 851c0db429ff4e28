import { foldAddresses } from '../../../lib/netpol/aggregate';

describe('foldAddresses', () => {
  it('leaves as many addresses as allowed alone', () => {
    expect(foldAddresses(['192.0.2.1/32', '2001:db8::1/128'], 2)).toEqual([
      '192.0.2.1/32',
      '2001:db8::1/128',
    ]);
  });

  it('folds the closest addresses first', () => {
    const cidrs = ['10.0.0.1/32', '10.0.0.2/32', '10.0.0.3/32', '172.16.5.9/32'];
    expect(foldAddresses(cidrs, 3)).toEqual(['10.0.0.1/32', '10.0.0.2/31', '172.16.5.9/32']);
    expect(foldAddresses(cidrs, 2)).toEqual(['10.0.0.0/30', '172.16.5.9/32']);
    expect(foldAddresses(cidrs, 1)).toEqual(['0.0.0.0/0']);
  });

  it('joins one /len block at a time, and only as many as needed', () => {
    const cidrs = ['10.0.0.0/32', '10.0.0.1/32', '10.0.0.2/32', '10.0.0.3/32', '10.0.1.0/32'];
    expect(foldAddresses(cidrs, 4)).toEqual(['10.0.0.0/31', '10.0.0.2/32', '10.0.0.3/32', '10.0.1.0/32']);
    expect(foldAddresses(cidrs, 3)).toEqual(['10.0.0.0/31', '10.0.0.2/31', '10.0.1.0/32']);
  });

  it('covers every input address, and counts per family', () => {
    const v4 = Array.from(
      { length: 300 },
      (_, i) => `${(i * 37) % 223}.${(i * 11) % 256}.${i % 256}.${(i * 7) % 256}/32`,
    );
    const v6 = Array.from(
      { length: 40 },
      (_, i) => `2001:db8:${i.toString(16)}::${(i * 3).toString(16)}/128`,
    );
    const out = foldAddresses([...v4, ...v6], 16);
    expect(out.filter((c) => !c.includes(':')).length).toBeLessThanOrEqual(16);
    expect(out.filter((c) => c.includes(':')).length).toBeLessThanOrEqual(16);
    const toInt = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
    // No two output CIDRs overlap.
    const ranges = out
      .filter((o) => !o.includes(':'))
      .map((o) => [toInt(o.split('/')[0]), toInt(o.split('/')[0]) + 2 ** (32 - Number(o.split('/')[1]))]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThanOrEqual(ranges[i - 1][1]);
    for (const c of v4) {
      const ip = toInt(c.split('/')[0]);
      expect(
        out.some((o) => {
          if (o.includes(':')) return false;
          const [net, len] = o.split('/');
          const size = 2 ** (32 - Number(len));
          return ip >= toInt(net) && ip < toInt(net) + size;
        }),
      ).toBe(true);
    }
  });

  it('writes IPv6 in its canonical form', () => {
    expect(foldAddresses(['2001:db8:0:0:1::1/128', '2001:db8:0:0:2::1/128'], 1)).toEqual(['2001:db8::/78']);
  });
});
