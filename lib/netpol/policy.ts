import { parseCidr, within, type Cidr } from './cidr';
import { compileSelector, type Selector } from '../labels';

/**
 * NetworkPolicy (networking.k8s.io/v1) objects as read from files or the cluster, validated the way
 * the API server validates them and compiled into what the evaluator matches with. Pure.
 */

export type PortProtocol = 'TCP' | 'UDP' | 'SCTP';

export interface CompiledPort {
  protocol: PortProtocol;
  /** undefined: every port of the protocol. */
  port?: number | string;
  /** With a numeric port: the range port..endPort. */
  endPort?: number;
}

export type CompiledPeer =
  | {
      kind: 'pods';
      /** 'own': no namespaceSelector, so the policy's own namespace. */
      namespaces: Selector | 'own';
      pods: Selector;
    }
  | { kind: 'ipBlock'; cidr: Cidr; except: Cidr[] };

export interface CompiledRule {
  /** 'any': `from`/`to` empty or absent, which the API documents as every peer. */
  peers: CompiledPeer[] | 'any';
  /** 'any': `ports` empty or absent: every port and protocol. */
  ports: CompiledPort[] | 'any';
}

export interface CompiledPolicy {
  namespace: string;
  name: string;
  /** Read from the cluster rather than given by the user: its namespace's other policies, not a claim about the log. */
  fromCluster?: boolean;
  podSelector: Selector;
  /** undefined when the policy does not isolate in that direction (not in its policyTypes). */
  ingress?: CompiledRule[];
  egress?: CompiledRule[];
}

/** A policy the API server would refuse; names it, so the user knows which document to fix. */
export class PolicyError extends Error {
  constructor(
    readonly policy: string,
    readonly source: string,
    readonly detail: string,
  ) {
    super(`NetworkPolicy ${policy} (${source}): ${detail}`);
    this.name = 'PolicyError';
  }
}

export const policyId = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const PROTOCOLS: readonly PortProtocol[] = ['TCP', 'UDP', 'SCTP'];
/** IANA service name, what a named container port must be. */
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*$/;

function list(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${path} must be a list`);
  return v;
}

function selector(raw: unknown, path: string): Selector {
  const s = compileSelector(raw);
  if (typeof s === 'string') throw new Error(`${path}: ${s}`);
  return s;
}

function cidr(text: unknown, path: string): Cidr {
  if (typeof text !== 'string') throw new Error(`${path} must be a string`);
  const c = parseCidr(text);
  if (typeof c === 'string') throw new Error(`${path}: ${c}`);
  return c;
}

function peer(raw: unknown, path: string): CompiledPeer {
  if (!isObj(raw)) throw new Error(`${path} must be an object`);
  // null is absent, as the API server reads it: `namespaceSelector: null` is the policy's own namespace.
  const absentIfNull = (v: unknown) => (v === null ? undefined : v);
  const podSelector = absentIfNull(raw.podSelector);
  const namespaceSelector = absentIfNull(raw.namespaceSelector);
  const ipBlock = absentIfNull(raw.ipBlock);
  if (ipBlock !== undefined) {
    if (podSelector !== undefined || namespaceSelector !== undefined)
      throw new Error(`${path}: ipBlock may not be combined with podSelector or namespaceSelector`);
    if (!isObj(ipBlock)) throw new Error(`${path}.ipBlock must be an object`);
    const c = cidr(ipBlock.cidr, `${path}.ipBlock.cidr`);
    const except = list(ipBlock.except, `${path}.ipBlock.except`).map((e, i) => {
      const x = cidr(e, `${path}.ipBlock.except[${i}]`);
      if (!within(x, c) || x.prefix === c.prefix)
        throw new Error(`${path}.ipBlock.except[${i}]: ${x.text} must be a strict subset of ${c.text}`);
      return x;
    });
    return { kind: 'ipBlock', cidr: c, except };
  }
  if (podSelector === undefined && namespaceSelector === undefined)
    throw new Error(`${path} must name podSelector, namespaceSelector or ipBlock`);
  return {
    kind: 'pods',
    namespaces:
      namespaceSelector === undefined ? 'own' : selector(namespaceSelector, `${path}.namespaceSelector`),
    pods: selector(podSelector, `${path}.podSelector`),
  };
}

function port(raw: unknown, path: string): CompiledPort {
  if (!isObj(raw)) throw new Error(`${path} must be an object`);
  const protocol = raw.protocol ?? 'TCP';
  if (!PROTOCOLS.includes(protocol as PortProtocol))
    throw new Error(`${path}.protocol: ${JSON.stringify(protocol)} is not TCP, UDP or SCTP`);
  const out: CompiledPort = { protocol: protocol as PortProtocol };
  const p = raw.port;
  if (typeof p === 'number') {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`${path}.port: ${p} is not 1-65535`);
    out.port = p;
  } else if (typeof p === 'string') {
    // The API accepts an int-or-string; a string of digits is still a name to it, and matches none.
    if (p.length > 15 || !PORT_NAME.test(p))
      throw new Error(`${path}.port: "${p}" is not a valid port name (IANA service name)`);
    out.port = p;
  } else if (p !== undefined && p !== null) {
    throw new Error(`${path}.port must be a number or a port name`);
  }
  if (raw.endPort !== undefined && raw.endPort !== null) {
    const e = raw.endPort;
    if (typeof out.port !== 'number') throw new Error(`${path}.endPort needs a numeric port`);
    if (typeof e !== 'number' || !Number.isInteger(e) || e < out.port || e > 65535)
      throw new Error(`${path}.endPort: ${JSON.stringify(e)} must be ${out.port}-65535`);
    out.endPort = e;
  }
  return out;
}

function rules(raw: unknown, path: string, peersKey: 'from' | 'to'): CompiledRule[] {
  return list(raw, path).map((r, i) => {
    const at = `${path}[${i}]`;
    if (!isObj(r)) throw new Error(`${at} must be an object`);
    const peers = list(r[peersKey], `${at}.${peersKey}`).map((p, j) => peer(p, `${at}.${peersKey}[${j}]`));
    const ports = list(r.ports, `${at}.ports`).map((p, j) => port(p, `${at}.ports[${j}]`));
    return { peers: peers.length ? peers : 'any', ports: ports.length ? ports : 'any' };
  });
}

/**
 * One NetworkPolicy object, compiled. A policy without a namespace gets defaultNamespace, as
 * `kubectl apply -f` would place it. Throws PolicyError naming the policy when it is invalid.
 */
export function compilePolicy(raw: Obj, source: string, defaultNamespace: string): CompiledPolicy {
  const meta = isObj(raw.metadata) ? raw.metadata : {};
  const name = typeof meta.name === 'string' && meta.name ? meta.name : '(unnamed)';
  const namespace = typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : defaultNamespace;
  const id = policyId({ namespace, name });
  try {
    if (name === '(unnamed)') throw new Error('metadata.name is missing');
    const spec = raw.spec;
    if (!isObj(spec)) throw new Error('spec is missing');
    const types = list(spec.policyTypes, 'spec.policyTypes');
    for (const t of types)
      if (t !== 'Ingress' && t !== 'Egress')
        throw new Error(`spec.policyTypes: ${JSON.stringify(t)} is not Ingress or Egress`);
    const egressRules = list(spec.egress, 'spec.egress');
    // The API server's default: Ingress always, Egress only when egress rules are present.
    const effective = types.length ? types : egressRules.length ? ['Ingress', 'Egress'] : ['Ingress'];
    const ingress = rules(spec.ingress, 'spec.ingress', 'from');
    const egress = rules(spec.egress, 'spec.egress', 'to');
    return {
      namespace,
      name,
      podSelector: selector(spec.podSelector, 'spec.podSelector'),
      ingress: effective.includes('Ingress') ? ingress : undefined,
      egress: effective.includes('Egress') ? egress : undefined,
    };
  } catch (e) {
    throw new PolicyError(id, source, (e as Error).message);
  }
}

/** A document read from somewhere; `source` says where (file name, "stdin", "cluster"). */
export interface PolicyDocument {
  source: string;
  object: unknown;
  fromCluster?: boolean;
}

export interface CompiledPolicies {
  policies: CompiledPolicy[];
  /** Documents that are not NetworkPolicies, named, for a note on stderr. */
  skipped: string[];
  /** Policies that named no namespace and were placed in the default one. */
  defaulted: string[];
}

/** Unwraps `kind: List` (and *List) documents, compiles the NetworkPolicies, names everything else. */
export function compileDocuments(docs: PolicyDocument[], defaultNamespace: string): CompiledPolicies {
  const policies: CompiledPolicy[] = [];
  const skipped: string[] = [];
  const defaulted: string[] = [];
  const visit = (object: unknown, source: string, fromCluster: boolean): void => {
    if (object === null || object === undefined) return; // an empty YAML document
    if (!isObj(object)) {
      skipped.push(`${source}: a document that is not an object`);
      return;
    }
    const kind = typeof object.kind === 'string' ? object.kind : '(no kind)';
    if (Array.isArray(object.items) && kind.endsWith('List')) {
      for (const item of object.items) visit(item, source, fromCluster);
      return;
    }
    const apiVersion = String(object.apiVersion ?? '');
    const meta = isObj(object.metadata) ? object.metadata : {};
    if (kind === 'NetworkPolicy' && apiVersion === 'networking.k8s.io/v1') {
      const p = compilePolicy(object, source, defaultNamespace);
      if (fromCluster) p.fromCluster = true;
      if (!meta.namespace) defaulted.push(p.name);
      policies.push(p);
      return;
    }
    const name = typeof meta.name === 'string' ? meta.name : '(unnamed)';
    skipped.push(`${source}: ${kind}${apiVersion ? ` (${apiVersion})` : ''} ${name}`);
  };
  for (const d of docs) visit(d.object, d.source, d.fromCluster ?? false);
  return { policies, skipped, defaulted };
}
