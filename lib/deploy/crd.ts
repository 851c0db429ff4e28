import {
  CRD_VERSION,
  GROUP,
  KIND,
  MAX_FLOWS_PER_NODE,
  MAX_GAPS,
  MAX_PRIVILEGE_ENTRIES,
} from '../session/types';

const str = { type: 'string' };
const int = { type: 'integer', format: 'int64', minimum: 0 };
const bool = { type: 'boolean' };
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
      lastTransitionTime: { type: 'string', format: 'date-time' },
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
          operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
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
      from: { type: 'string', format: 'date-time' },
      to: { type: 'string', format: 'date-time' },
      reason: str,
    },
  },
};

/** Which container instance a record is about. */
const identity = { pod: str, podUID: str, workload: str, container: str, containerID: str };

const container = {
  type: 'object',
  required: ['pod', 'container', 'syscalls'],
  properties: {
    ...identity,
    syscalls: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 4095 }, maxItems: 4096 },
    recordedFromStart: bool,
    filterSeen: bool,
    gaps,
  },
};

const flow = {
  type: 'object',
  required: ['pod', 'direction', 'proto', 'remoteIP'],
  properties: {
    pod: str,
    direction: { type: 'string', enum: ['ingress', 'egress'] },
    proto: { type: 'string', enum: ['TCP', 'UDP'] },
    localIP: str,
    localPort: { type: 'integer', minimum: 0, maximum: 65535 },
    remoteIP: str,
    remotePort: { type: 'integer', minimum: 0, maximum: 65535 },
    count: int,
    firstSeen: { type: 'string', format: 'date-time' },
    lastSeen: { type: 'string', format: 'date-time' },
  },
};

const count = int;
const pair = (item: object) => ({ type: 'array', items: item, minItems: 2, maxItems: 2 });
const bounded = (item: object) => ({ type: 'array', items: item, maxItems: MAX_PRIVILEGE_ENTRIES });
const signedInt = { type: 'integer', format: 'int64' };

const privilege = {
  type: 'object',
  required: ['pod', 'container', 'containerID'],
  properties: {
    ...identity,
    recordedFromStart: bool,
    mounts: bounded(str),
    credentials: bounded({
      type: 'object',
      properties: { uid: int, gid: int, euid: int, egid: int, capEffective: str, count },
    }),
    idChanges: bounded({
      type: 'object',
      properties: {
        syscall: str,
        args: { type: 'array', items: signedInt, maxItems: 3 },
        result: signedInt,
        count,
      },
    }),
    capChecks: bounded({
      type: 'object',
      properties: { capability: str, syscall: str, granted: bool, onBehalf: bool, count },
    }),
    execs: bounded({
      type: 'object',
      properties: { path: str, euid: pair(int), egid: pair(int), capEffective: pair(str), count },
    }),
    writes: bounded({
      type: 'object',
      properties: {
        syscall: str,
        path: str,
        rootfs: { type: 'string', enum: ['yes', 'no', 'unknown'] },
        count,
      },
    }),
    privateReads: bounded({
      type: 'object',
      properties: { path: str, mode: str, uid: int, gid: int, count },
    }),
    truncated: bool,
  },
};

const nodeRecord = {
  type: 'object',
  required: ['node'],
  properties: {
    node: str,
    arch: str,
    agentVersion: str,
    bpftraceVersion: str,
    lastFlush: { type: 'string', format: 'date-time' },
    final: bool,
    containers: {
      type: 'array',
      items: container,
    },
    flows: { type: 'array', items: flow, maxItems: MAX_FLOWS_PER_NODE },
    truncated: bool,
    privileges: { type: 'array', items: privilege, maxItems: 1000 },
    conditions,
    gaps,
  },
};

/** The TraceSession CRD: a structural schema, status subresource, and kubectl printer columns. */
export function traceSessionCrd() {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `tracesessions.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'kubectl-harden' } },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        plural: 'tracesessions',
        singular: 'tracesession',
        kind: KIND,
        listKind: `${KIND}List`,
        shortNames: ['ts'],
        categories: ['harden'],
      },
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Type', type: 'string', jsonPath: '.spec.type' },
            { name: 'Target', type: 'string', jsonPath: '.metadata.annotations.harden\\.dev/target' },
            { name: 'State', type: 'string', jsonPath: '.spec.state' },
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              required: ['spec'],
              properties: {
                apiVersion: str,
                kind: str,
                metadata: { type: 'object' },
                spec: {
                  type: 'object',
                  required: ['type', 'target', 'state'],
                  properties: {
                    type: { type: 'string', enum: ['seccomp', 'network', 'capabilities'] },
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
                    phase: { type: 'string', enum: ['Pending', 'Tracing', 'Completed', 'Failed'] },
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
            },
          },
        },
      ],
    },
  };
}
