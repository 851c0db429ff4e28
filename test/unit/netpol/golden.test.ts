import { load, loadAll } from 'js-yaml';
import { toYamlDocuments } from '../../../lib/cli/output';
import { toCiliumPolicy, type CiliumNetworkPolicy } from '../../../lib/netpol/cilium';
import { appliedBytes } from '../../../lib/netpol/limits';
import { splitToFit } from '../../../lib/netpol/split';
import { toNetworkPolicy, type NetworkPolicy, type WorkloadPolicy } from '../../../lib/netpol/synthesize';
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
        'workload-selector',
        'static-pods',
        'node-ingress',
        'udp-server',
        'dns-nodelocal',
        'merged-rules',
        'many-external',
        'names',
        'cronjob-runs',
        'static-pods-node-owner',
        'host-network-other-node',
        'split',
        'dns-nodelocal-clusterip',
        'ipv6-address-forms',
        'host-port',
        'same-workload-one-side',
        'dns-openshift',
        'selectorless-pod-endpoints',
      ]),
    );
  });

  it.each(cases)('%s', async (name) => {
    const result = await reportText(logText(name));
    expectGolden(`netpol/${name}.yaml`, toYamlDocuments(result.policies));
  });

  // references redefines a target mid-log (a relabel): there, order is the point.
  it.each(cases.filter((c) => c !== 'references'))('%s: the order of flows does not matter', async (name) => {
    const [header, ...lines] = logText(name).trim().split('\n');
    // Definitions stay first: a flow may only name an id defined before it.
    const defs = lines.filter((l) => !l.startsWith('{"kind":"flow"'));
    const flows = lines.filter((l) => l.startsWith('{"kind":"flow"'));
    const reversed = [header, ...defs, ...flows.reverse()].join('\n');
    const a = await reportText(logText(name));
    const b = await reportText(reversed);
    expect(toYamlDocuments(b.policies)).toBe(toYamlDocuments(a.policies));
  });
});

describe('netpol report -o cilium golden files', () => {
  it.each(goldenCases())('%s', async (name) => {
    const result = await reportText(logText(name));
    expectGolden(`netpol/cilium/${name}.yaml`, toYamlDocuments(result.workloads.map(toCiliumPolicy)));
  });
});

describe('a policy too big for kubectl apply is split, not refused', () => {
  // The real limit is 256 KiB (test/unit/cli/netpol-report.test.ts splits 20 000 addresses under
  // it); a small one here keeps the golden files readable: the rules are dealt out in order, and
  // the external addresses' rule, too big for one part alone, is cut by its peers.
  const LIMIT = 760;

  type Render = (w: WorkloadPolicy) => NetworkPolicy | CiliumNetworkPolicy;
  it.each<[string, Render]>([
    ['split.parts.yaml', toNetworkPolicy],
    ['cilium/split.parts.yaml', toCiliumPolicy],
  ])('%s', async (golden, render) => {
    const [w] = (await reportText(logText('split'))).workloads;
    const parts = splitToFit(w, render, LIMIT);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(parts.map((p) => p.name)).toEqual(
      parts.map((_, i) => (i ? `frontend-harden-${i + 1}` : 'frontend-harden')),
    );
    for (const p of parts) {
      expect(appliedBytes(render(p))).toBeLessThanOrEqual(LIMIT);
      expect(p.selector).toEqual(w.selector);
    }
    // Together, exactly the whole: every rule's peers and ports, none added.
    const allowed = (ws: WorkloadPolicy[]) =>
      ws
        .flatMap((x) => [
          ...x.ingress.map((r) => ['in', r] as const),
          ...x.egress.map((r) => ['out', r] as const),
        ])
        .flatMap(([d, r]) =>
          r.peers.flatMap((peer) => r.ports.map((port) => JSON.stringify([d, peer, port]))),
        )
        .sort();
    expect(allowed(parts)).toEqual(allowed([w]));
    expectGolden(`netpol/${golden}`, toYamlDocuments(parts.map((p) => render(p))));
  });

  it("a node's address reached from its own node and from another is one ipBlock", () => {
    const w: WorkloadPolicy = {
      name: 'api-harden',
      namespace: 'web',
      workload: { kind: 'Deployment', name: 'api' },
      selector: { matchLabels: { app: 'api' } },
      ingress: [],
      egress: [
        {
          peers: [
            { kind: 'cidr', cidr: '192.168.1.1/32', node: 'own' },
            { kind: 'cidr', cidr: '192.168.1.1/32', node: 'other' },
            { kind: 'cidr', cidr: '192.168.1.2/32', node: 'other' },
          ],
          ports: [{ protocol: 'TCP', port: 9100 }],
        },
      ],
    };
    expect(toNetworkPolicy(w).spec.egress[0].to).toEqual([
      { ipBlock: { cidr: '192.168.1.1/32' } },
      { ipBlock: { cidr: '192.168.1.2/32' } },
    ]);
  });

  it('a policy that fits is left as it is', async () => {
    const [w] = (await reportText(logText('split'))).workloads;
    expect(splitToFit(w, toNetworkPolicy)).toEqual([w]);
  });
});

describe('netpol report --aggregate', () => {
  it('many-external: 60 IPv4 and 20 IPv6 addresses fold into at most 16 CIDRs each', async () => {
    const result = await reportText(logText('many-external'), false, { aggregate: true });
    expectGolden('netpol/many-external.aggregate.yaml', toYamlDocuments(result.policies));
    const [external] = result.policies[0].spec.egress.filter((r) => r.ports[0].port === 443);
    expect(external.to.length).toBeLessThanOrEqual(32);
    expect(result.notes).toEqual([
      'web/Deployment frontend: 80 external addresses folded into 32 CIDRs (widest 2001:db8:b800::/37); they allow more than was seen',
    ]);
  });

  it('without it, past 50 external addresses a note suggests it', async () => {
    const result = await reportText(logText('many-external'));
    expect(result.notes).toEqual([
      'web/Deployment frontend: its policy lists 80 external addresses one by one; --aggregate folds them into CIDRs',
    ]);
  });

  it('a handful of addresses is left as it is', async () => {
    const plain = await reportText(logText('merged-rules'));
    const folded = await reportText(logText('merged-rules'), false, { aggregate: true });
    expect(folded.policies).toEqual(plain.policies);
  });
});

describe('netpol report semantics', () => {
  it('the workload selector is the policy selector; release-varying labels never select', async () => {
    const r = await reportText(logText('workload-selector'));
    const [p] = r.policies;
    expect(p.spec.podSelector).toEqual({
      matchLabels: {
        'app.kubernetes.io/component': 'web',
        'app.kubernetes.io/instance': 'shop',
        'app.kubernetes.io/name': 'shop',
      },
    });
    const text = JSON.stringify(r.policies);
    for (const k of [
      'helm.sh/chart',
      'app.kubernetes.io/version',
      'pod-template-hash',
      'job-name',
      'controller-uid',
    ])
      expect(text).not.toContain(k);
    // The client before and after its upgrade is one peer.
    expect(
      p.spec.ingress.flatMap((rule) => rule.from).filter((f) => f.podSelector?.matchLabels?.app === 'client'),
    ).toHaveLength(1);
  });

  it('static pods are each their own workload; two that select the same pods (etcd on two nodes) are one policy', async () => {
    const r = await reportText(logText('static-pods'));
    expect(r.policies.map((p) => p.metadata.name)).toEqual(['etcd-cp-harden']);
    expect(r.policies[0].metadata.annotations['harden.dev/workload']).toBe('Pod/etcd-cp-1,Pod/etcd-cp-2');
    expect(r.policies[0].spec.ingress.flatMap((rule) => rule.from)).toEqual([
      { ipBlock: { cidr: '192.168.10.1/32' } },
      { ipBlock: { cidr: '192.168.10.2/32' } },
    ]);
  });

  it('static pods of one node, in a log that named their Node as owner, are never one workload', async () => {
    const r = await reportText(logText('static-pods-node-owner'));
    expect(r.policies.map((p) => [p.metadata.name, p.spec.podSelector.matchLabels?.component])).toEqual([
      ['etcd-cp-1-harden', 'etcd'],
      ['kube-apiserver-cp-1-harden', 'kube-apiserver'],
    ]);
  });

  it('two runs of one CronJob in an older log (each Job its own owner) are one policy', async () => {
    const r = await reportText(logText('cronjob-runs'));
    expect(r.policies).toHaveLength(1);
    expect(r.policies[0].metadata).toMatchObject({
      name: 'backup-harden',
      annotations: { 'harden.dev/workload': 'Job/backup-28391010,Job/backup-28391070' },
    });
    expect(r.notes).toContain(
      'batch: Job backup-28391010 and Job backup-28391070 select the same pods; one policy, backup-harden, allows what all of them did',
    );
  });

  it('ingress from a hostNetwork pod on another node: an ipBlock, and a note naming the pod, its node and address', async () => {
    const r = await reportText(logText('host-network-other-node'));
    expect(r.policies[0].spec.ingress.flatMap((rule) => rule.from)).toEqual([
      { ipBlock: { cidr: '192.168.10.12/32' } },
    ]);
    expect(r.notes).toContain(
      "web/Deployment frontend: traffic with hostNetwork pod monitoring/prometheus-node-abcde on node worker-2 (192.168.10.12) is allowed by that node's address, which every hostNetwork pod and process of worker-2 shares",
    );
  });

  it("only the target's own node is exempt; other nodes are ipBlocks, with a note", async () => {
    const r = await reportText(logText('node-ingress'));
    const from = r.policies[0].spec.ingress.flatMap((rule) => rule.from);
    expect(from).toEqual([
      { ipBlock: { cidr: '192.168.10.12/32' } },
      { ipBlock: { cidr: 'fd00:10::12/128' } },
    ]);
    expect(r.notes).toContain(
      "web/Deployment frontend: traffic with node worker-2 (192.168.10.12) is allowed by that node's address: a hostNetwork pod there, or NodePort/LoadBalancer traffic the node SNATed",
    );
  });

  it('an old log without the node: node traffic is taken for probes, and a note says so', async () => {
    const r = await reportText(logText('kubelet-probe'));
    expect(r.notes).toEqual([expect.stringContaining('does not say which node its pods ran on')]);
  });

  it('every policy name is a DNS-1123 subdomain of at most 253 characters, unique per namespace', async () => {
    const names = (await reportText(logText('names'))).policies.map((p) => p.metadata.name);
    expect(names).toHaveLength(3);
    expect(new Set(names).size).toBe(3);
    for (const n of names) {
      expect(n.length).toBeLessThanOrEqual(253);
      expect(n).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
    }
  });

  it('label values a YAML 1.1 reader would take for numbers or booleans survive a round trip as strings', async () => {
    const text = toYamlDocuments((await reportText(logText('names'))).policies);
    const api = loadAll(text).find(
      (d) => (d as { metadata: { name: string } }).metadata.name === 'api-deployment-harden',
    );
    const labels = (api as { spec: { podSelector: { matchLabels: Record<string, string> } } }).spec
      .podSelector.matchLabels;
    expect(labels).toMatchObject({
      'release-date': '2024_05_01',
      enabled: 'yes',
      mask: '0x1f',
      replicas: '1e3',
      feature: 'on',
      empty: 'null',
    });
    for (const v of ['2024_05_01', 'yes', '0x1f', '1e3', 'on', 'null']) expect(text).toContain(`'${v}'`);
    expect(load("a: '2024_05_01'")).toEqual({ a: '2024_05_01' });
  });

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
