import { normalizeIP } from '../../lib/agent/recorders/network/parse';
import { unmapIPv4 } from '../../lib/ip';
import { hostCidr } from '../../lib/netpol/synthesize';

describe('IPv4-mapped addresses, one rule for the agent and the policies', () => {
  test.each([
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['::FFFF:192.168.1.2', '192.168.1.2'],
    ['::ffff:a00:1', '::ffff:a00:1'], // hex form: not what a socket prints
    ['fd00::1', 'fd00::1'],
    ['10.0.0.1', '10.0.0.1'],
  ])('%s is %s', (ip, want) => {
    expect(unmapIPv4(ip)).toBe(want);
    // The agent records the address the policy later names, as a host block of the same family.
    expect(normalizeIP(ip)).toBe(want);
    expect(hostCidr(ip)).toBe(`${want}/${want.includes(':') ? 128 : 32}`);
  });
});
