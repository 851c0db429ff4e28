import { normalizeIP } from '../../lib/agent/recorders/network/parse';
import { unmapIPv4 } from '../../lib/ip';
import { hostCidr } from '../../lib/netpol/synthesize';

describe('IPv4-mapped addresses, one rule for the agent and the policies', () => {
  test.each([
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['::FFFF:192.168.1.2', '192.168.1.2'],
    ['fd00::1', 'fd00::1'],
    ['10.0.0.1', '10.0.0.1'],
  ])('%s is %s', (ip, want) => {
    expect(unmapIPv4(ip)).toBe(want);
    // The agent records the address the policy later names, as a host block of the same family.
    expect(normalizeIP(ip)).toBe(want);
    expect(hostCidr(ip)).toBe(`${want}/${want.includes(':') ? 128 : 32}`);
  });

  // Spellings a socket does not print (the agent keeps them as they are) still name the packet's
  // family and one address each in a policy, as verify reads them.
  test.each([
    ['::ffff:a00:1', '10.0.0.1/32'],
    ['0:0:0:0:0:FFFF:10.0.0.1', '10.0.0.1/32'],
    ['FD00:0:0:0::1', 'fd00::1/128'],
  ])('%s is named %s in a policy', (ip, want) => {
    expect(hostCidr(ip)).toBe(want);
  });
});
