import * as fs from 'node:fs';
import * as path from 'node:path';
import { load } from 'js-yaml';
import { parseAddress } from '../../../lib/netpol/cidr';
import type { Labels, NamedPort } from '../../../lib/netpol/log';
import { compileDocuments, type PortProtocol } from '../../../lib/netpol/policy';
import { PolicySet, type Connection, type Endpoint, type SideVerdict } from '../../../lib/netpol/verify';
import { expectGolden, GOLDEN_DIR } from '../golden';

/**
 * One semantic rule per case: test/golden/netpol-verify/<case>.yaml holds pods, policies and
 * connections, each connection with the verdict the Kubernetes API documents (`expect`, written by
 * hand); <case>.txt is the evaluator's full answer (which side denied, by which policies, and what
 * it had to assume), reviewed once and compared byte for byte.
 */
interface CasePod {
  name: string; // namespace/name
  labels?: Labels;
  ip?: string;
  namedPorts?: NamedPort[];
}

interface CaseConnection {
  from: string; // namespace/name of a pod, an IP, or node:IP (the destination pod's own node)
  to: string;
  port: string; // PROTO/NUMBER or PROTO/name:NAME
  expect: 'allow' | 'deny';
}

interface Case {
  namespaces?: Record<string, Labels>;
  pods: CasePod[];
  policies: unknown[];
  connections: CaseConnection[];
}

const DIR = path.join(GOLDEN_DIR, 'netpol-verify');
const cases = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.slice(0, -5))
  .sort();

function endpoint(c: Case, ref: string): Endpoint {
  if (ref.startsWith('node:')) return { kind: 'host', ip: addr(ref.slice(5)), localNode: true };
  const pod = c.pods.find((p) => p.name === ref);
  if (!pod) return { kind: 'host', ip: addr(ref) };
  const [namespace, name] = pod.name.split('/');
  return {
    kind: 'pod',
    namespace,
    name,
    labels: pod.labels ?? {},
    namespaceLabels: c.namespaces?.[namespace],
    ip: pod.ip === undefined ? undefined : addr(pod.ip),
    namedPorts: pod.namedPorts,
  };
}

function addr(ip: string) {
  const a = parseAddress(ip);
  if (!a) throw new Error(`bad address in case: ${ip}`);
  return a;
}

function connection(c: Case, k: CaseConnection): Connection {
  const [protocol, port] = k.port.split('/');
  return {
    src: endpoint(c, k.from),
    dst: endpoint(c, k.to),
    protocol: protocol as PortProtocol,
    port: port.startsWith('name:') ? { name: port.slice(5) } : Number(port),
  };
}

const side = (what: string, v: SideVerdict | undefined) =>
  !v
    ? []
    : v.isolatedBy.length === 0
      ? []
      : [`${what} ${v.allowed ? 'allows' : 'denies'} (${v.isolatedBy.join(', ')})`];

describe.each(cases)('verify rule %s', (name) => {
  const c = load(fs.readFileSync(path.join(DIR, `${name}.yaml`), 'utf8')) as Case;
  const docs = c.policies.map((object) => ({ source: `${name}.yaml`, object }));
  const set = new PolicySet(compileDocuments(docs, 'default').policies);
  const verdicts = c.connections.map((k) => ({ k, v: set.evaluate(connection(c, k)) }));

  it.each(c.connections.map((k, i) => [`${k.from} -> ${k.to} ${k.port}`, i] as const))(
    '%s is as the API documents it',
    (_, i) => {
      expect(verdicts[i].v.allowed ? 'allow' : 'deny').toBe(c.connections[i].expect);
    },
  );

  it('explains every verdict as the golden file says', () => {
    const lines = verdicts.map(({ k, v }) => {
      const why = [...side('egress', v.egress), ...side('ingress', v.ingress)];
      const reason = v.self ? 'its own traffic' : why.length ? why.join('; ') : 'not isolated';
      return `${k.from} -> ${k.to} ${k.port}: ${v.allowed ? 'allow' : 'deny'} — ${reason}`;
    });
    const notes = set.assumptions().map((a) => `note: ${a}`);
    const unused = set.unused().map((p) => `note: selects no pod: ${p.namespace}/${p.name}`);
    expectGolden(`netpol-verify/${name}.txt`, [...lines, ...notes, ...unused].join('\n') + '\n');
  });
});
