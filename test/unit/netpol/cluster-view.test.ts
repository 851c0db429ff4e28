import { ClusterView } from '../../../lib/netpol/cluster-view';

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

  test("a selectorless Service's endpoint that a pod holds names that pod (a Patroni leader)", () => {
    const v = view();
    v.apply('service', 'ADDED', {
      metadata: { name: 'web-leader', namespace: 'web' },
      spec: {
        clusterIP: '10.96.0.30',
        ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }],
      },
    });
    v.apply('endpointslice', 'ADDED', {
      metadata: {
        name: 'web-leader',
        namespace: 'web',
        labels: { 'kubernetes.io/service-name': 'web-leader' },
      },
      endpoints: [
        { addresses: ['10.0.0.5'] },
        { addresses: ['192.168.1.10'] },
        { addresses: ['192.168.9.9'] },
      ],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
    const peer = v.resolve('egress', 'TCP', '10.96.0.30', 80);
    expect(peer).toMatchObject({ kind: 'service', selector: null });
    const endpoints = (peer as { endpoints: { ip: string; pod?: { name: string; hostNetwork: boolean } }[] })
      .endpoints;
    expect(endpoints.map((e) => [e.ip, e.pod?.name])).toEqual([
      ['10.0.0.5', 'web-7c9-x'],
      // A hostNetwork pod's address is its node's: no pod to select.
      ['192.168.1.10', undefined],
      ['192.168.9.9', undefined],
    ]);
    expect(endpoints[0].pod).toMatchObject({ kind: 'pod', namespace: 'web', hostNetwork: false });
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
    expect(pod && v.target(pod)).toEqual({
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

  test("a finished pod's address is the live pod's that reuses it, whichever the view learnt first", () => {
    for (const order of [0, 1]) {
      const v = new ClusterView();
      const done = {
        metadata: { name: 'backup-28-x', namespace: 'web', labels: { app: 'backup' } },
        spec: {},
        status: { phase: 'Succeeded', podIP: '10.0.0.50' },
      };
      const live = {
        metadata: { name: 'client-1', namespace: 'web', labels: { app: 'client' } },
        spec: {},
        status: { phase: 'Running', podIP: '10.0.0.50' },
      };
      for (const p of order ? [live, done] : [done, live]) v.apply('pod', 'ADDED', p);
      expect(v.resolve('ingress', 'TCP', '10.0.0.50', 8080)).toMatchObject({ kind: 'pod', name: 'client-1' });
      expect(v.podsAt('10.0.0.50').map((p) => p.metadata.name)).toEqual(['client-1']);
    }
    // Alone, a failed (evicted) pod's old address is nobody's.
    const v = new ClusterView();
    v.apply('pod', 'ADDED', {
      metadata: { name: 'evicted', namespace: 'web' },
      spec: {},
      status: { phase: 'Failed', podIP: '10.0.0.51' },
    });
    expect(v.resolve('egress', 'TCP', '10.0.0.51', 80)).toEqual({
      kind: 'external',
      ip: '10.0.0.51',
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

describe('workload selectors from controllers', () => {
  const pod = (name: string, kind: string, owner: string, labels: Record<string, string> = {}) => ({
    metadata: { name, namespace: 'web', labels, ownerReferences: [{ kind, name: owner, controller: true }] },
    spec: { nodeName: 'n1' },
    status: {},
  });

  test('asks for the controller it needs, once', () => {
    const v = new ClusterView();
    const p = pod('web-7c9-x', 'ReplicaSet', 'web-7c9', { app: 'web', 'pod-template-hash': '7c9' });
    expect(v.missingController(p)).toEqual({ kind: 'ReplicaSet', namespace: 'web', name: 'web-7c9' });
    v.setController({ kind: 'ReplicaSet', namespace: 'web', name: 'web-7c9' }, null);
    expect(v.missingController(p)).toBeUndefined();
    // Unreadable: the owner is guessed from the name, and no selector is claimed.
    expect(v.workloadOf(p)).toEqual({ owner: { kind: 'Deployment', name: 'web' } });
  });

  test("a Deployment's pods: its selector is the ReplicaSet's less pod-template-hash", () => {
    const v = new ClusterView();
    v.setController(
      { kind: 'ReplicaSet', namespace: 'web', name: 'web-7c9' },
      {
        metadata: {
          name: 'web-7c9',
          ownerReferences: [{ kind: 'Deployment', name: 'web', controller: true }],
        },
        spec: { selector: { matchLabels: { app: 'web', 'pod-template-hash': '7c9' } } },
      },
    );
    const p = pod('web-7c9-x', 'ReplicaSet', 'web-7c9', { app: 'web', 'helm.sh/chart': 'web-1.0.0' });
    expect(v.target(p)).toEqual({
      namespace: 'web',
      name: 'web-7c9-x',
      labels: { app: 'web', 'helm.sh/chart': 'web-1.0.0' },
      owner: { kind: 'Deployment', name: 'web' },
      selector: { matchLabels: { app: 'web' } },
      node: 'n1',
      namedPorts: [],
    });
  });

  test("a Deployment whose selector carries version (Istio's reviews-v1, -v2) keeps it: one workload each", () => {
    const v = new ClusterView();
    for (const ver of ['v1', 'v2'])
      v.setController(
        { kind: 'ReplicaSet', namespace: 'web', name: `reviews-${ver}-5d` },
        {
          metadata: {
            name: `reviews-${ver}-5d`,
            ownerReferences: [{ kind: 'Deployment', name: `reviews-${ver}`, controller: true }],
          },
          spec: {
            selector: { matchLabels: { app: 'reviews', version: ver, 'pod-template-hash': '5d' } },
          },
        },
      );
    const labels = (ver: string) => ({ app: 'reviews', version: ver, 'pod-template-hash': '5d' });
    expect(v.workloadOf(pod('reviews-v1-5d-x', 'ReplicaSet', 'reviews-v1-5d', labels('v1')))).toEqual({
      owner: { kind: 'Deployment', name: 'reviews-v1' },
      selector: { matchLabels: { app: 'reviews', version: 'v1' } },
    });
    expect(v.workloadOf(pod('reviews-v2-5d-x', 'ReplicaSet', 'reviews-v2-5d', labels('v2')))).toEqual({
      owner: { kind: 'Deployment', name: 'reviews-v2' },
      selector: { matchLabels: { app: 'reviews', version: 'v2' } },
    });
  });

  test('a bare ReplicaSet is its own workload', () => {
    const v = new ClusterView();
    v.setController(
      { kind: 'ReplicaSet', namespace: 'web', name: 'solo' },
      { metadata: { name: 'solo' }, spec: { selector: { matchLabels: { app: 'solo' } } } },
    );
    expect(v.workloadOf(pod('solo-x', 'ReplicaSet', 'solo'))).toEqual({
      owner: { kind: 'ReplicaSet', name: 'solo' },
      selector: { matchLabels: { app: 'solo' } },
    });
  });

  test("a CronJob's Job pods are the CronJob, selected by template labels less the per-run ones", () => {
    const v = new ClusterView();
    v.setController(
      { kind: 'Job', namespace: 'web', name: 'report-28401' },
      {
        metadata: {
          name: 'report-28401',
          ownerReferences: [{ kind: 'CronJob', name: 'report', controller: true }],
        },
        spec: {
          selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': '3b1e' } },
          template: {
            metadata: {
              labels: {
                app: 'report',
                'batch.kubernetes.io/controller-uid': '3b1e',
                'job-name': 'report-28401',
              },
            },
          },
        },
      },
    );
    expect(v.workloadOf(pod('report-28401-x', 'Job', 'report-28401'))).toEqual({
      owner: { kind: 'CronJob', name: 'report' },
      selector: { matchLabels: { app: 'report' } },
    });
  });

  test('a StatefulSet or DaemonSet: its own selector', () => {
    const v = new ClusterView();
    const sel = {
      matchLabels: { app: 'pg' },
      matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['db'] }],
    };
    v.setController(
      { kind: 'StatefulSet', namespace: 'web', name: 'pg' },
      { metadata: { name: 'pg' }, spec: { selector: sel } },
    );
    expect(v.workloadOf(pod('pg-0', 'StatefulSet', 'pg'))).toEqual({
      owner: { kind: 'StatefulSet', name: 'pg' },
      selector: sel,
    });
  });

  test('a static pod (owned by its Node) is its own workload', () => {
    const v = new ClusterView();
    const p = pod('etcd-n1', 'Node', 'n1', { component: 'etcd' });
    expect(v.missingController(p)).toBeUndefined();
    expect(v.workloadOf(p)).toEqual({ owner: null });
  });
});

describe('every way a Service is reached', () => {
  function lbView() {
    const v = view();
    v.apply('service', 'ADDED', {
      metadata: { name: 'shop', namespace: 'web' },
      spec: {
        clusterIP: '10.96.0.30',
        externalIPs: ['203.0.113.10'],
        selector: { app: 'shop' },
        ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 30080 }],
      },
      status: { loadBalancer: { ingress: [{ ip: '198.51.100.20' }] } },
    });
    v.apply('service', 'ADDED', {
      metadata: { name: 'node-agent', namespace: 'kube-system' },
      spec: {
        clusterIP: '10.96.0.40',
        selector: { app: 'agent' },
        ports: [{ name: 'm', port: 9100, targetPort: 9100 }],
      },
    });
    v.apply('endpointslice', 'ADDED', {
      metadata: {
        name: 'node-agent-1',
        namespace: 'kube-system',
        labels: { 'kubernetes.io/service-name': 'node-agent' },
      },
      endpoints: [{ addresses: ['192.168.1.10'], nodeName: 'n1' }],
      ports: [{ name: 'm', port: 9100, protocol: 'TCP' }],
    });
    return v;
  }

  test('a LoadBalancer or external IP, and a NodePort on a node, are the Service', () => {
    for (const [ip, port] of [
      ['198.51.100.20', 80],
      ['203.0.113.10', 80],
      ['192.168.1.10', 30080],
    ] as const)
      expect(lbView().resolve('egress', 'TCP', ip, port)).toMatchObject({
        kind: 'service',
        name: 'shop',
        port: 80,
        targetPort: 8080,
      });
  });

  test('a Service whose endpoints are hostNetwork pods carries those addresses', () => {
    expect(lbView().resolve('egress', 'TCP', '10.96.0.40', 9100)).toEqual({
      kind: 'service',
      namespace: 'kube-system',
      name: 'node-agent',
      selector: { app: 'agent' },
      port: 9100,
      protocol: 'TCP',
      targetPort: 9100,
      hostEndpoints: [{ ip: '192.168.1.10', port: 9100, node: 'n1' }],
    });
  });

  test('a hostPort on a node is the pod behind it, at the container port the node DNATs to', () => {
    const v = view();
    v.apply('pod', 'ADDED', {
      metadata: { name: 'otel-x', namespace: 'obs', labels: { app: 'otel' } },
      spec: {
        nodeName: 'n1',
        containers: [
          { ports: [{ containerPort: 14317, hostPort: 4317 }] },
          { ports: [{ containerPort: 8125, hostPort: 8125, protocol: 'UDP' }] },
        ],
      },
      status: { podIP: '10.0.0.9' },
    });
    expect(v.resolve('egress', 'TCP', '192.168.1.10', 4317)).toMatchObject({
      kind: 'pod',
      namespace: 'obs',
      name: 'otel-x',
      hostNetwork: false,
      containerPort: 14317,
    });
    expect(v.resolve('egress', 'UDP', '192.168.1.10', 8125)).toMatchObject({
      name: 'otel-x',
      containerPort: 8125,
    });
    // Another protocol or port on the node is the node's (here its hostNetwork pod's).
    expect(v.resolve('egress', 'TCP', '192.168.1.10', 8125)).toMatchObject({
      name: 'agent-x',
      hostNetwork: true,
    });
    expect(v.resolve('egress', 'TCP', '192.168.1.10', 14317)).toMatchObject({ name: 'agent-x' });
    // Ingress from the node's address is never a hostPort.
    expect(v.resolve('ingress', 'TCP', '192.168.1.10', 0)).toEqual({
      kind: 'node',
      name: 'n1',
      ip: '192.168.1.10',
    });
  });

  test("kubelet's probes from the host's side of the pod network are the node's: a bridge CNI's gateway, Calico's tunnel, Cilium's cilium_host", () => {
    const v = new ClusterView();
    // flannel (k3s) and host-local bridges: cni0 holds the first host address of each pod CIDR.
    v.apply('node', 'ADDED', {
      metadata: { name: 'k3s-1' },
      spec: { podCIDR: '10.42.1.0/24', podCIDRs: ['10.42.1.0/24', '2001:db8:42:1::/64'] },
      status: { addresses: [{ type: 'InternalIP', address: '192.168.1.21' }] },
    });
    v.apply('node', 'ADDED', {
      metadata: {
        name: 'calico-1',
        annotations: {
          'projectcalico.org/IPv4Address': '192.168.1.22/24',
          'projectcalico.org/IPv4VXLANTunnelAddr': '10.244.120.64',
          'projectcalico.org/IPv4IPIPTunnelAddr': '10.244.7.0',
        },
      },
      status: { addresses: [{ type: 'InternalIP', address: '192.168.1.22' }] },
    });
    v.apply('node', 'ADDED', {
      metadata: { name: 'cilium-1', annotations: { 'network.cilium.io/ipv6-cilium-host': 'fd00:10::a' } },
      status: { addresses: [{ type: 'InternalIP', address: '192.168.1.23' }] },
    });
    // A pod holding such an address stays that pod.
    v.apply('pod', 'ADDED', {
      metadata: { name: 'odd', namespace: 'web', labels: { app: 'odd' } },
      spec: {},
      status: { podIP: '10.244.7.0' },
    });
    const node = (name: string, ip: string) => ({ kind: 'node', name, ip });
    expect(v.resolve('ingress', 'TCP', '10.42.1.1', 0)).toEqual(node('k3s-1', '10.42.1.1'));
    // flannel.1, whence the node reaches other nodes' pods.
    expect(v.resolve('ingress', 'TCP', '10.42.1.0', 0)).toEqual(node('k3s-1', '10.42.1.0'));
    expect(v.resolve('ingress', 'TCP', '2001:db8:42:1::1', 0)).toEqual(node('k3s-1', '2001:db8:42:1::1'));
    // Spelled otherwise, the same address.
    expect(v.resolve('ingress', 'TCP', 'fd00:10:0:0:0:0:0:a', 0)).toEqual(
      node('cilium-1', 'fd00:10:0:0:0:0:0:a'),
    );
    expect(v.resolve('ingress', 'TCP', '10.244.120.64', 0)).toEqual(node('calico-1', '10.244.120.64'));
    expect(v.resolve('ingress', 'TCP', '10.244.7.0', 0)).toMatchObject({ kind: 'pod', name: 'odd' });
    // Another address of the pod CIDR is no node's.
    expect(v.resolve('ingress', 'TCP', '10.42.1.9', 0)).toEqual({
      kind: 'external',
      ip: '10.42.1.9',
      family: 4,
    });
  });

  test("the DNS Service's DNS ports, named target ports resolved through its EndpointSlices; not its metrics port", () => {
    const v = new ClusterView();
    v.apply('service', 'ADDED', {
      metadata: { name: 'kube-dns', namespace: 'kube-system' },
      spec: {
        clusterIP: '10.96.0.10',
        selector: { 'k8s-app': 'kube-dns' },
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 5353 },
          { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
        ],
      },
    });
    v.apply('endpointslice', 'ADDED', {
      metadata: {
        name: 'kube-dns-1',
        namespace: 'kube-system',
        labels: { 'kubernetes.io/service-name': 'kube-dns' },
      },
      endpoints: [{ addresses: ['10.0.0.53'] }],
      ports: [
        { name: 'dns', port: 1053, protocol: 'UDP' },
        { name: 'dns-tcp', port: 5353, protocol: 'TCP' },
        { name: 'metrics', port: 9153, protocol: 'TCP' },
      ],
    });
    expect(v.dnsTargetPorts(v.clusterDns()!)).toEqual([1053, 5353]);
  });
});
