/**
 * The plugin's CRDs. TraceSession's and TraceRecord's core schema here, each kind's fields from its
 * recorder (the registry in lib/agent/recorders), so a new kind of session needs no change here.
 */
import { bool, dateTime, identity, str } from '../agent/core/schema';
import { RECORDERS } from '../agent/recorders';
import { SELECTOR_OPERATORS } from '../labels';
import { INSTALL_KIND, INSTALL_PLURAL, MAX_NAME_LENGTH, MAX_PROFILE_BYTES } from '../seccomp/install';
import { RECORD_KIND } from '../session/trace-records';
import { CRD_VERSION, GROUP, KIND, MAX_GAPS, SESSION_PHASES } from '../session/types';

const PHASES = [...SESSION_PHASES];
const fields = (part: 'node' | 'container') =>
  Object.assign({}, ...RECORDERS.map((r) => r.schema[part] ?? {}));

const labelMap = { type: 'object', additionalProperties: { type: 'string' } };

const conditions = {
  type: 'array',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  items: {
    type: 'object',
    required: ['type', 'status'],
    properties: {
      type: str,
      status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
      reason: str,
      message: str,
      lastTransitionTime: dateTime,
    },
  },
};

const selector = {
  type: 'object',
  properties: {
    matchLabels: labelMap,
    matchExpressions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: {
          key: str,
          operator: { type: 'string', enum: [...SELECTOR_OPERATORS] },
          values: { type: 'array', items: str },
        },
      },
    },
  },
};

const gaps = {
  type: 'array',
  maxItems: MAX_GAPS,
  items: {
    type: 'object',
    required: ['from', 'to', 'reason'],
    properties: {
      from: dateTime,
      to: dateTime,
      reason: str,
    },
  },
};

const container = {
  type: 'object',
  required: ['pod', 'container'],
  properties: { ...identity, recordedFromStart: bool, filterSeen: bool, gaps, ...fields('container') },
};

const nodeRecord = {
  type: 'object',
  required: ['node'],
  properties: {
    node: str,
    arch: str,
    agentVersion: str,
    bpftraceVersion: str,
    lastFlush: dateTime,
    final: bool,
    phase: { type: 'string', enum: PHASES },
    containers: { type: 'array', items: container },
    conditions,
    gaps,
    ...fields('node'),
  },
};

/** What tells one of the plugin's CRDs apart; the frame around it is the same for all. */
interface CrdShape<P extends Record<string, unknown>> {
  plural: string;
  kind: string;
  shortNames: string[];
  printerColumns: { name: string; type: string; jsonPath: string }[];
  /** The object's own schema (spec, status, metadata bounds) beside apiVersion and kind. */
  properties: P;
  /** Whether `status` is a subresource of its own (written apart from the rest); default true. */
  statusSubresource?: boolean;
  required?: string[];
}

/** A namespaced, single-version CRD of the harden.dev group (with a status subresource unless told). */
function namespacedCrd<P extends Record<string, unknown>>(shape: CrdShape<P>) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${shape.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'kubectl-harden' },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        plural: shape.plural,
        singular: shape.kind.toLowerCase(),
        kind: shape.kind,
        listKind: `${shape.kind}List`,
        shortNames: shape.shortNames,
        categories: ['harden'],
      },
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          ...(shape.statusSubresource === false ? {} : { subresources: { status: {} } }),
          additionalPrinterColumns: shape.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              required: shape.required ?? ['spec'],
              properties: { apiVersion: str, kind: str, ...shape.properties },
            },
          },
        },
      ],
    },
  };
}

const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/** The TraceSession CRD: a structural schema, status subresource, and kubectl printer columns. */
export function traceSessionCrd() {
  return namespacedCrd({
    plural: 'tracesessions',
    kind: KIND,
    shortNames: ['ts'],
    printerColumns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Target', type: 'string', jsonPath: '.metadata.annotations.harden\\.dev/target' },
      { name: 'State', type: 'string', jsonPath: '.spec.state' },
      age,
    ],
    properties: {
      metadata: { type: 'object' },
      spec: {
        type: 'object',
        required: ['type', 'target', 'state'],
        properties: {
          type: { type: 'string', enum: RECORDERS.map((r) => r.type) },
          state: { type: 'string', enum: ['Running', 'Stopped'] },
          target: {
            type: 'object',
            properties: {
              namespace: str,
              podName: str,
              selector,
              all: { type: 'boolean' },
              containers: { type: 'array', items: str },
            },
            'x-kubernetes-validations': [
              {
                rule: '[has(self.podName), has(self.selector), has(self.all) && self.all].exists_one(x, x)',
                message: 'target needs exactly one of podName, selector or all',
              },
            ],
          },
        },
        'x-kubernetes-validations': [
          {
            rule: "!(oldSelf.state == 'Stopped' && self.state == 'Running')",
            message: 'a stopped session cannot be restarted',
          },
        ],
      },
      status: {
        type: 'object',
        properties: {
          phase: { type: 'string', enum: PHASES },
          message: str,
          conditions,
          nodes: {
            type: 'array',
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['node'],
            items: nodeRecord,
          },
        },
      },
    },
  });
}

/**
 * TraceRecord: one node's record of one session (lib/session/trace-records), written whole by that
 * node's agent, owned by the session. No status subresource: the record is all it holds, and one
 * apply writes it. Its phase is the node's; `kubectl harden <kind> list` shows the session's.
 */
export function traceRecordCrd() {
  return namespacedCrd({
    plural: 'tracerecords',
    kind: RECORD_KIND,
    shortNames: ['tr'],
    printerColumns: [
      { name: 'Session', type: 'string', jsonPath: '.metadata.labels.harden\\.dev/session' },
      { name: 'Node', type: 'string', jsonPath: '.record.node' },
      { name: 'Phase', type: 'string', jsonPath: '.record.phase' },
      { name: 'Final', type: 'boolean', jsonPath: '.record.final' },
      { name: 'Last-Flush', type: 'date', jsonPath: '.record.lastFlush' },
      age,
    ],
    statusSubresource: false,
    required: ['record'],
    properties: { metadata: { type: 'object' }, record: nodeRecord },
  });
}

/**
 * SeccompProfileInstall: a seccomp profile to put on every node, in the namespace whose RBAC
 * decides who may install it (its files land under that namespace's prefix only). spec is the
 * plugin's, status.nodes one entry per node written by that node's agent. The bounds here are the
 * API server's; the agent checks everything again before it writes.
 */
export function seccompProfileInstallCrd() {
  return namespacedCrd({
    plural: INSTALL_PLURAL,
    kind: INSTALL_KIND,
    shortNames: ['spi'],
    printerColumns: [
      { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
      { name: 'Digest', type: 'string', jsonPath: '.spec.digest' },
      age,
    ],
    properties: {
      metadata: {
        type: 'object',
        properties: { name: { type: 'string', maxLength: MAX_NAME_LENGTH } },
      },
      spec: {
        type: 'object',
        required: ['profile', 'digest', 'mode'],
        properties: {
          profile: { type: 'string', maxLength: MAX_PROFILE_BYTES },
          digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
          mode: { type: 'string', enum: ['Enforce', 'Audit'] },
        },
      },
      status: {
        type: 'object',
        properties: {
          nodes: {
            type: 'array',
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['node'],
            items: {
              type: 'object',
              required: ['node', 'state'],
              properties: {
                node: str,
                arch: str,
                state: { type: 'string', enum: ['Installed', 'Failed'] },
                digest: str,
                message: str,
                observedGeneration: { type: 'integer', format: 'int64' },
                lastUpdate: dateTime,
              },
            },
          },
        },
      },
    },
  });
}
