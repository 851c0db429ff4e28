import {
  FLOW_LOG_VERSION,
  FlowLogError,
  FlowLogReader,
  formatLine,
  parseLine,
  type FlowLine,
  type FlowLogHeader,
} from '../../../lib/netpol/log';

const header: FlowLogHeader = {
  kind: 'header',
  format: 'kubectl-harden/flow-log',
  version: FLOW_LOG_VERSION,
  cluster: 'kind',
  context: 'kind-kind',
  startTime: '2025-03-01T10:00:00Z',
  dns: { namespace: 'kube-system', name: 'kube-dns', selector: { 'k8s-app': 'kube-dns' } },
};

const flow: FlowLine = {
  kind: 'flow',
  target: {
    namespace: 'web',
    name: 'api-1',
    labels: { app: 'api' },
    owner: { kind: 'Deployment', name: 'api' },
  },
  direction: 'egress',
  proto: 'TCP',
  localIP: '10.244.0.5',
  localPort: 40000,
  remoteIP: '10.96.0.7',
  remotePort: 80,
  peer: {
    kind: 'service',
    namespace: 'web',
    name: 'db',
    selector: { app: 'db' },
    port: 80,
    protocol: 'TCP',
    targetPort: 'http',
  },
  count: 2,
  firstSeen: '2025-03-01T10:00:01Z',
  lastSeen: '2025-03-01T10:00:02.5+01:00',
};

/** The flow with one field changed (undefined: removed), as a line of text. */
function variant(path: string[], value: unknown): string {
  const copy = JSON.parse(JSON.stringify(flow));
  let o = copy;
  for (const k of path.slice(0, -1)) o = o[k];
  if (value === undefined) delete o[path[path.length - 1]];
  else o[path[path.length - 1]] = value;
  return JSON.stringify(copy);
}

/** The flow with a selectorless Service peer whose one endpoint names `pod`. */
function endpointPod(pod: object): string {
  return variant(['peer'], {
    kind: 'service',
    namespace: 'data',
    name: 'pg',
    selector: null,
    port: 5432,
    protocol: 'TCP',
    targetPort: 5432,
    endpoints: [{ ip: '10.0.0.7', port: 5432, pod }],
  });
}

function errorOf(fn: () => unknown): FlowLogError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlowLogError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('flow log lines', () => {
  it('round-trips header and flow through formatLine/parseLine', () => {
    expect(parseLine(formatLine(header), 1)).toEqual(header);
    expect(parseLine(formatLine(flow), 2)).toEqual(flow);
  });

  it('formatLine refuses what parseLine would (a writer bug fails where it is made)', () => {
    expect(() => formatLine({ ...flow, remotePort: 0 })).toThrow(
      'remotePort: expected an integer 1..65535, got 0',
    );
  });

  it('ignores fields it does not know (additive changes keep the version)', () => {
    expect(parseLine(JSON.stringify({ ...flow, container: 'app' }), 3)).toMatchObject({ kind: 'flow' });
  });

  it('takes the optional pod facts verify uses', () => {
    const target = {
      ...(flow.target as object),
      namespaceLabels: { 'kubernetes.io/metadata.name': 'web' },
      namedPorts: [{ name: 'sctp-x', protocol: 'SCTP', port: 9 }],
    };
    expect(parseLine(JSON.stringify({ ...flow, target }), 3)).toMatchObject({ target });
  });

  it.each([
    ['{"kind":"flow",', 'line 7: not JSON'],
    ['[]', 'line 7: line: expected an object, got an array'],
    ['{"kind":"flaw"}', 'line 7: kind: expected "header", "target", "peer", "flow" or "gap", got "flaw"'],
    [
      '{"kind":"gap","node":"n1","from":"2025-01-01T00:00:00Z","reason":"X"}',
      'line 7: to: expected an RFC 3339 time',
    ],
    [variant(['direction'], 'inbound'), 'line 7: direction: expected "ingress" or "egress", got "inbound"'],
    [variant(['proto'], 'SCTP'), 'line 7: proto: expected "TCP" or "UDP", got "SCTP"'],
    [variant(['remoteIP'], '10.0.0.300'), 'line 7: remoteIP: expected an IP address, got "10.0.0.300"'],
    [variant(['remotePort'], 70000), 'line 7: remotePort: expected an integer 1..65535, got 70000'],
    [variant(['count'], 0), 'line 7: count: expected an integer 1..9007199254740991, got 0'],
    [variant(['firstSeen'], 'yesterday'), 'line 7: firstSeen: expected an RFC 3339 time, got "yesterday"'],
    [variant(['target', 'labels', 'app'], 3), 'line 7: target.labels["app"]: expected a string, got 3'],
    [
      variant(['target', 'owner', 'kind'], ''),
      'line 7: target.owner.kind: expected a non-empty string, got ""',
    ],
    [
      variant(['target', 'namespace'], undefined),
      'line 7: target.namespace: expected a non-empty string, got nothing',
    ],
    [
      variant(['peer', 'kind'], 'vm'),
      'line 7: peer.kind: expected "pod" or "service" or "node" or "external", got "vm"',
    ],
    [variant(['peer', 'targetPort'], 0), 'line 7: peer.targetPort: expected an integer 1..65535, got 0'],
    [
      variant(['peer', 'selector'], null),
      'line 7: peer.endpoints: expected an array (required for a selectorless service), got nothing',
    ],
    [
      endpointPod({ kind: 'pod', namespace: 'data', hostNetwork: false }),
      'line 7: peer.endpoints[0].pod.name: expected a non-empty string, got nothing',
    ],
    [
      endpointPod({ kind: 'node', name: 'n1', ip: '10.0.0.7' }),
      'line 7: peer.endpoints[0].pod: expected a pod on the pod network (kind "pod", hostNetwork false)',
    ],
    [
      variant(['peer'], { kind: 'external', ip: '2001:db8::1', family: 4 }),
      'line 7: peer.family: expected 6 for "2001:db8::1", got 4',
    ],
    [
      variant(['target', 'namespaceLabels'], { team: 1 }),
      'line 7: target.namespaceLabels["team"]: expected a string, got 1',
    ],
    [
      variant(['target', 'namedPorts'], [{ name: 'http', protocol: 'TCP', port: 0 }]),
      'line 7: target.namedPorts[0].port: expected an integer 1..65535, got 0',
    ],
    [
      variant(['target', 'namedPorts'], [{ name: 'x', protocol: 'ICMP', port: 1 }]),
      'line 7: target.namedPorts[0].protocol: expected "TCP" or "UDP" or "SCTP", got "ICMP"',
    ],
  ])('%s → %s', (text, message) => {
    const e = errorOf(() => parseLine(text, 7));
    expect(e.line).toBe(7);
    expect(e.message.startsWith(message)).toBe(true);
  });

  it('refuses a newer version, and anything that is not a flow log, by the header', () => {
    expect(() => parseLine(JSON.stringify({ ...header, version: FLOW_LOG_VERSION + 1 }), 1)).toThrow(
      `line 1: version: flow log version ${FLOW_LOG_VERSION + 1} is newer than this kubectl-harden reads`,
    );
    expect(() => parseLine(JSON.stringify({ ...header, format: 'pcap' }), 1)).toThrow(
      'line 1: format: expected "kubectl-harden/flow-log", got "pcap"',
    );
  });
});

describe('FlowLogReader', () => {
  it('reads a version 1 log (no gap lines), and hands gap lines on', () => {
    const r = new FlowLogReader();
    expect(r.read(JSON.stringify({ ...header, version: 1 }), 1)).toMatchObject({ version: 1 });
    expect(r.read(JSON.stringify(flow), 2)).toEqual(flow);
    const gap = {
      kind: 'gap',
      node: 'n1',
      pod: 'api-1',
      container: 'api',
      from: '2025-03-01T10:00:05Z',
      to: '2025-03-01T10:00:07Z',
      reason: 'AgentRestarted',
    };
    expect(r.read(JSON.stringify(gap), 3)).toEqual(gap);
  });

  it('wants the header first', () => {
    expect(() => new FlowLogReader().read(JSON.stringify(flow), 1)).toThrow(
      'line 1: kind: expected the header first',
    );
  });

  it('resolves target and peer ids to their latest definition', () => {
    const r = new FlowLogReader();
    r.read(JSON.stringify(header), 1);
    expect(r.read(JSON.stringify({ kind: 'target', id: 4, target: flow.target }), 2)).toBeNull();
    expect(r.read(JSON.stringify({ kind: 'peer', id: 0, peer: flow.peer }), 3)).toBeNull();
    expect(r.read(JSON.stringify({ ...flow, target: 4, peer: 0 }), 4)).toEqual(flow);
  });

  it('names the line of a reference to nothing', () => {
    const r = new FlowLogReader();
    r.read(JSON.stringify(header), 1);
    expect(() => r.read(JSON.stringify({ ...flow, peer: 9 }), 2)).toThrow(
      'line 2: peer: no peer line before this one defines id 9',
    );
  });

  it('checks a peer against the flow that uses it', () => {
    const r = new FlowLogReader();
    r.read(JSON.stringify(header), 1);
    expect(() => r.read(JSON.stringify({ ...flow, direction: 'ingress', localPort: 80 }), 2)).toThrow(
      'line 2: peer.kind: a service peer only makes sense for egress',
    );
    expect(() => r.read(JSON.stringify({ ...flow, proto: 'UDP' }), 3)).toThrow(
      'line 3: peer.protocol: "TCP" differs from the flow\'s proto "UDP"',
    );
  });
});
