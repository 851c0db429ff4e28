import { contains, parseAddress, parseCidr, type Cidr } from '../../../lib/netpol/cidr';
import { compileDocuments, compilePolicy } from '../../../lib/netpol/policy';

const policy = (spec: unknown, metadata: object = { name: 'p', namespace: 'web' }) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata,
  spec,
});

describe('policy validation: what the API server would refuse is an error naming the policy', () => {
  it.each([
    [
      { podSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] } },
      'spec.podSelector: matchExpressions[0]: operator In needs at least one value',
    ],
    [
      { podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['x'] }] } },
      'spec.podSelector: matchExpressions[0]: operator Exists takes no values',
    ],
    [
      { podSelector: { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['x'] }] } },
      'operator "Equals" is not one of In, NotIn, Exists, DoesNotExist',
    ],
    [
      { podSelector: { matchLabels: { 'bad key!': 'x' } } },
      'spec.podSelector: matchLabels: label key "bad key!"',
    ],
    [{ podSelector: { matchLabels: { app: 'not valid' } } }, 'label "app": value "not valid" must be'],
    [{ podSelector: {}, policyTypes: ['Ingres'] }, 'spec.policyTypes: "Ingres" is not Ingress or Egress'],
    [
      { podSelector: {}, ingress: [{ from: [{}] }] },
      'spec.ingress[0].from[0] must name podSelector, namespaceSelector or ipBlock',
    ],
    [
      { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] },
      'ipBlock may not be combined with podSelector or namespaceSelector',
    ],
    [
      { podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] } }] }] },
      'spec.egress[0].to[0].ipBlock.except[0]: 11.0.0.0/16 must be a strict subset of 10.0.0.0/8',
    ],
    [
      { podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.0.0.0/8'] } }] }] },
      'must be a strict subset',
    ],
    [
      { podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] },
      'the prefix is longer than 32 bits',
    ],
    [
      { podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: 'example.com/8' } }] }] },
      '"example.com" is not an IP address',
    ],
    [
      { podSelector: {}, ingress: [{ ports: [{ protocol: 'ICMP' }] }] },
      'spec.ingress[0].ports[0].protocol: "ICMP" is not TCP, UDP or SCTP',
    ],
    [
      { podSelector: {}, ingress: [{ ports: [{ port: 0 }] }] },
      'spec.ingress[0].ports[0].port: 0 is not 1-65535',
    ],
    [{ podSelector: {}, ingress: [{ ports: [{ port: 'HTTP' }] }] }, 'is not a valid port name'],
    [
      { podSelector: {}, ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] },
      'endPort needs a numeric port',
    ],
    [
      { podSelector: {}, ingress: [{ ports: [{ port: 100, endPort: 90 }] }] },
      'endPort: 90 must be 100-65535',
    ],
    [undefined, 'spec is missing'],
  ])('%j', (spec, message) => {
    expect(() => compilePolicy(policy(spec), 'p.yaml', 'default')).toThrow(
      expect.objectContaining({
        message: expect.stringContaining(message),
        policy: 'web/p',
        source: 'p.yaml',
      }),
    );
  });

  it('a null selector is an absent one, as the API server reads it: namespaceSelector null is the own namespace', () => {
    const p = compilePolicy(
      policy({
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: null, podSelector: { matchLabels: { app: 'c' } } }] }],
      }),
      'p.yaml',
      'default',
    );
    expect(p.ingress?.[0].peers?.[0]).toMatchObject({ kind: 'pods', namespaces: 'own' });
  });

  it('a namespaceless policy takes the default namespace, and is listed as such', () => {
    const r = compileDocuments([{ source: 'x', object: policy({ podSelector: {} }, { name: 'p' }) }], 'prod');
    expect(r.policies[0]).toMatchObject({ namespace: 'prod', name: 'p' });
    expect(r.defaulted).toEqual(['p']);
  });

  it('skips other kinds and other API versions by name, unwraps Lists, ignores empty documents', () => {
    const r = compileDocuments(
      [
        { source: 'a.yaml', object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } } },
        { source: 'a.yaml', object: null },
        { source: 'b.yaml', object: { kind: 'List', items: [policy({ podSelector: {} }), 'text'] } },
        { source: 'c.yaml', object: { ...policy({}), apiVersion: 'crd.projectcalico.org/v1' } },
      ],
      'default',
    );
    expect(r.policies.map((p) => p.name)).toEqual(['p']);
    expect(r.skipped).toEqual([
      'a.yaml: Service (v1) s',
      'b.yaml: a document that is not an object',
      'c.yaml: NetworkPolicy (crd.projectcalico.org/v1) p',
    ]);
  });
});

describe('addresses and CIDRs', () => {
  const cidr = (t: string) => parseCidr(t) as Cidr;
  it.each([
    ['10.1.2.3', '10.0.0.0/8', true],
    ['11.1.2.3', '10.0.0.0/8', false],
    ['2001:db8::1', '2001:db8::/32', true],
    ['2001:db9::1', '2001:db8::/32', false],
    ['::ffff:10.1.2.3', '10.0.0.0/8', true],
    ['10.1.2.3', '::/0', false],
    ['fe80::1%eth0', 'fe80::/10', true],
    ['64:ff9b::10.1.2.3', '64:ff9b::/96', true],
    ['1.2.3.4', '0.0.0.0/0', true],
  ])('%s in %s: %s', (ip, block, inside) => {
    const a = parseAddress(ip);
    expect(a).toBeDefined();
    expect(a && contains(cidr(block), a)).toBe(inside);
  });

  it('rejects what is not an address', () => {
    expect(parseAddress('10.0.0.256')).toBeUndefined();
    expect(parseAddress('host')).toBeUndefined();
    expect(parseCidr('10.0.0.0')).toBe('"10.0.0.0" is not a CIDR (address/prefix)');
  });
});
