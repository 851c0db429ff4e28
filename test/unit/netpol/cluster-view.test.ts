import { ClusterView, targetOf } from '../../../lib/netpol/cluster-view';

function view() {
  const v = new ClusterView();
  v.apply('pod', 'ADDED', {
    metadata: {
      name: 'web-7c9-x',
      namespace: 'web',
      labels: { app: 'web', 'pod-template-hash': '7c9' },
      ownerReferences: [{ kind: 'ReplicaSet', name: 'web-7c9', controller: true }],
    },
    spec: {
      containers: [
        { ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 9999 }] },
        { ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }] },
      ],
    },
    status: { podIP: '10.0.0.5', podIPs: [{ ip: '10.0.0.5' }, { ip: 'fd00::5' }] },
  });
  v.apply('pod', 'ADDED', {
    metadata: { name: 'agent-x', namespace: 'kube-system', labels: { app: 'agent' } },
    spec: { hostNetwork: true },
    status: { podIP: '192.168.1.10' },
  });
  v.apply('node', 'ADDED', {
    metadata: { name: 'n1' },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.1.10' }] },
  });
  v.apply('service', 'ADDED', {
    metadata: { name: 'db', namespace: 'data' },
    spec: {
      clusterIP: '10.96.0.20',
      selector: { app: 'db' },
      ports: [{ name: 'pg', port: 5432, protocol: 'TCP', targetPort: 'postgres' }],
    },
  });
  v.apply('service', 'ADDED', {
    metadata: { name: 'kubernetes', namespace: 'default' },
    spec: {
      clusterIP: '10.96.0.1',
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
    },
  });
  v.apply('endpointslice', 'ADDED', {
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { 'kubernetes.io/service-name': 'kubernetes' },
    },
    endpoints: [{ addresses: ['192.168.1.2'] }],
    ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
  });
  return v;
}

describe('peer resolution while monitoring', () => {
  test('a pod IP (v4 or v6) is that pod, with its workload', () => {
    for (const ip of ['10.0.0.5', 'fd00::5']) {
      expect(view().resolve('ingress', 'TCP', ip, 0)).toEqual({
        kind: 'pod',
        namespace: 'web',
        name: 'web-7c9-x',
        labels: { app: 'web', 'pod-template-hash': '7c9' },
        owner: { kind: 'Deployment', name: 'web' },
        hostNetwork: false,
        namedPorts: [
          { name: 'dns', protocol: 'UDP', port: 53 },
          { name: 'http', protocol: 'TCP', port: 8080 },
        ],
      });
    }
  });

  test('a ClusterIP is the Service, with the target port it maps to (by name here)', () => {
    expect(view().resolve('egress', 'TCP', '10.96.0.20', 5432)).toEqual({
      kind: 'service',
      namespace: 'data',
      name: 'db',
      selector: { app: 'db' },
      port: 5432,
      protocol: 'TCP',
      targetPort: 'postgres',
    });
  });

  test('a selectorless Service carries its endpoints', () => {
    expect(view().resolve('egress', 'TCP', '10.96.0.1', 443)).toMatchObject({
      kind: 'service',
      name: 'kubernetes',
      selector: null,
      targetPort: 6443,
      endpoints: [{ ip: '192.168.1.2', port: 6443 }],
    });
  });

  test('the wrong protocol on a ClusterIP is not that Service', () => {
    expect(view().resolve('egress', 'UDP', '10.96.0.20', 5432)).toEqual({
      kind: 'external',
      ip: '10.96.0.20',
      family: 4,
    });
  });

  test('a node address: ingress is the node (kubelet probes); egress reaches its hostNetwork pod', () => {
    expect(view().resolve('ingress', 'TCP', '192.168.1.10', 0)).toEqual({
      kind: 'node',
      name: 'n1',
      ip: '192.168.1.10',
    });
    expect(view().resolve('egress', 'TCP', '192.168.1.10', 9100)).toMatchObject({
      kind: 'pod',
      name: 'agent-x',
      hostNetwork: true,
    });
  });

  test('anything else is external, with its family', () => {
    expect(view().resolve('egress', 'UDP', '2001:db8::1', 53)).toEqual({
      kind: 'external',
      ip: '2001:db8::1',
      family: 6,
    });
  });

  test('a deleted pod is forgotten; the target identity of a live one keeps its labels and owner', () => {
    const v = view();
    const pod = v.pod('web', 'web-7c9-x');
    expect(pod && targetOf(pod)).toEqual({
      namespace: 'web',
      name: 'web-7c9-x',
      labels: { app: 'web', 'pod-template-hash': '7c9' },
      owner: { kind: 'Deployment', name: 'web' },
      namedPorts: [
        { name: 'dns', protocol: 'UDP', port: 53 },
        { name: 'http', protocol: 'TCP', port: 8080 },
      ],
    });
    if (pod) v.apply('pod', 'DELETED', pod);
    expect(v.resolve('egress', 'TCP', '10.0.0.5', 80)).toEqual({
      kind: 'external',
      ip: '10.0.0.5',
      family: 4,
    });
  });

  test('a known namespace lends its labels to the pods in it, as targets and as peers', () => {
    const v = view();
    v.apply('namespace', 'ADDED', {
      metadata: { name: 'web', labels: { 'kubernetes.io/metadata.name': 'web', team: 'a' } },
    });
    const pod = v.pod('web', 'web-7c9-x');
    const nsLabels = { 'kubernetes.io/metadata.name': 'web', team: 'a' };
    expect(pod && v.target(pod)).toMatchObject({ name: 'web-7c9-x', namespaceLabels: nsLabels });
    expect(v.resolve('ingress', 'TCP', '10.0.0.5', 0)).toMatchObject({
      kind: 'pod',
      namespaceLabels: nsLabels,
      namedPorts: [{ name: 'dns' }, { name: 'http' }],
    });
    // A namespace the view does not know: no labels recorded, rather than made-up ones.
    expect(v.resolve('egress', 'TCP', '192.168.1.10', 22)).not.toHaveProperty('namespaceLabels');
  });
});
