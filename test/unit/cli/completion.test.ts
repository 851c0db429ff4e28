import { complete } from '../../../lib/cli/main';

// What kubectl (>= 1.26) gets from `kubectl_complete-harden __complete ARGS…`: cobra's protocol.
describe('completion through kubectl', () => {
  test.each([
    [['sec'], 'seccomp\nsecuritycontext\n:4\n'],
    [['securitycontext', 'st'], 'start\nstop\n:4\n'],
    [['seccomp', 'st'], 'start\nstop\n:4\n'],
    [['netpol', ''], 'monitor\nreport\nverify\n:4\n'],
    [['-n', 'web', 'dep'], 'deploy\n:4\n'],
    [['--con'], '--context\n:4\n'],
    [['seccomp', 'stop', 'sc-1', '--out'], '--output\n--output-dir\n:4\n'],
    [['zzz'], ':4\n'],
  ])('%j', (args, expected) => {
    expect(complete(args)).toBe(expected);
  });
});
