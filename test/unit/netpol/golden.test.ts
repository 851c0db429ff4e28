import { toYamlDocuments } from '../../../lib/cli/output';
import { expectGolden } from '../golden';
import { goldenCases, logText, reportText } from './helpers';

describe('netpol report golden files', () => {
  const cases = goldenCases();

  it('covers every case the design names', () => {
    expect(cases).toEqual(
      expect.arrayContaining([
        'same-namespace-pod',
        'cross-namespace-pod',
        'service-numeric-target-port',
        'service-named-target-port',
        'selectorless-service',
        'external-ipv4',
        'external-ipv6',
        'dns',
        'dns-unknown',
        'tcp-and-udp-one-port',
        'several-ports-one-peer',
        'host-network-peer',
        'kubelet-probe',
        'unstable-labels-dropped',
        'references',
        'empty',
      ]),
    );
  });

  it.each(cases)('%s', async (name) => {
    const result = await reportText(logText(name));
    expectGolden(`netpol/${name}.yaml`, toYamlDocuments(result.policies));
  });

  it.each(cases.filter((c) => c !== 'references'))('%s: the order of flows does not matter', async (name) => {
    const [header, ...flows] = logText(name).trim().split('\n');
    const reversed = [header, ...flows.reverse()].join('\n');
    const a = await reportText(logText(name));
    const b = await reportText(reversed);
    expect(toYamlDocuments(b.policies)).toBe(toYamlDocuments(a.policies));
  });
});

describe('netpol report semantics', () => {
  it('header only: no policies, no notes', async () => {
    const r = await reportText(logText('empty'));
    expect(r).toMatchObject({ policies: [], flows: 0, lines: 1, skipped: 0, notes: [] });
  });

  it('a log without a DNS service assumes kube-system/kube-dns, and says so', async () => {
    const r = await reportText(logText('dns-unknown'));
    expect(r.notes).toEqual([expect.stringContaining('k8s-app=kube-dns in kube-system')]);
  });

  it('kubelet probes add no ingress rule', async () => {
    const [policy] = (await reportText(logText('kubelet-probe'))).policies;
    expect(policy.spec.ingress).toEqual([]);
  });

  it('concatenated logs make one report', async () => {
    const a = logText('same-namespace-pod');
    const b = logText('cross-namespace-pod');
    const r = await reportText(a + b);
    expect(r.flows).toBe(3);
    expect(r.policies).toHaveLength(1);
    expect(r.policies[0].spec.egress).toHaveLength(3); // api, redis, DNS
  });
});
