import { sizeProblem } from '../../../lib/netpol/limits';
import { partName, policyName, shortHash } from '../../../lib/netpol/names';

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

describe('policyName', () => {
  it('is the workload name with -harden, and the kind when asked', () => {
    expect(policyName(['web'])).toBe('web-harden');
    expect(policyName(['web', 'StatefulSet'])).toBe('web-statefulset-harden');
  });

  it('cuts a long name to 253 characters, keeping it apart from others with the same head', () => {
    const a = policyName(['x'.repeat(250), 'StatefulSet']);
    const b = policyName(['x'.repeat(250), 'Deployment']);
    expect(a.length).toBe(253);
    expect(a).toMatch(DNS1123);
    expect(a).not.toBe(b);
    expect(a.endsWith(`-${shortHash(`${'x'.repeat(250)}/StatefulSet`)}-harden`)).toBe(true);
  });

  it('never leaves a dot or dash before the hash', () => {
    const n = policyName([`${'a'.repeat(236)}.-.${'b'.repeat(30)}`]);
    expect(n).toMatch(DNS1123);
  });
});

describe('sizeProblem', () => {
  const policy = (bytes: number) => ({
    metadata: { name: 'p', namespace: 'ns' },
    spec: { pad: 'x'.repeat(bytes) },
  });

  it('passes what kubectl apply and etcd take', () => {
    expect(sizeProblem(policy(200 * 1024))).toBeUndefined();
  });

  it('names the last-applied annotation limit', () => {
    expect(sizeProblem(policy(257 * 1024))).toBe(
      "policy ns/p is 258 KiB, over the 256 KiB kubectl apply's last-applied-configuration annotation can hold",
    );
  });

  it('names the etcd limit', () => {
    expect(sizeProblem(policy(1600 * 1024))).toBe(
      'policy ns/p is 1601 KiB, over the 1.5 MiB etcd stores per object',
    );
  });
});

describe('partName', () => {
  test('the k-th part of a split policy: <name>-<k>, within 253 characters', () => {
    expect(partName('web-harden', 2)).toBe('web-harden-2');
    const long = `${'a'.repeat(245)}-harden`;
    expect(partName(long, 12)).toHaveLength(253);
    expect(partName(long, 12)).toMatch(/^a+-harden-12$/);
  });
});
