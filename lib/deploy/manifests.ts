import { VERSION } from '../version';
import {
  AGENT_LABELS,
  AGENT_NAME,
  AGENT_NAMESPACE,
  DEFAULT_KUBELET_ROOT,
  READY_FILE,
  SECCOMP_MOUNT,
} from '../session/agent-names';
import { GROUP } from '../session/types';
import { seccompProfileInstallCrd, traceRecordCrd, traceSessionCrd } from './crd';

export const DEFAULT_IMAGE_REPO = 'ghcr.io/kubectl-harden/harden-agent';

export interface DeployOptions {
  image?: string;
  /** Agent status flush interval, seconds. */
  flushSeconds?: number;
  /** kubelet's --root-dir on the nodes (e.g. MicroK8s: /var/snap/microk8s/common/var/lib/kubelet). */
  kubeletRoot?: string;
}

export function defaultImage(): string {
  return `${DEFAULT_IMAGE_REPO}:v${VERSION}`;
}

const meta = (name: string, namespace?: string) => ({
  name,
  ...(namespace ? { namespace } : {}),
  labels: { ...AGENT_LABELS },
});

export function agentNamespace() {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      ...meta(AGENT_NAMESPACE),
      // The agent is privileged by design; say so to Pod Security Admission.
      labels: { ...AGENT_LABELS, 'pod-security.kubernetes.io/enforce': 'privileged' },
    },
  };
}

export function agentServiceAccount() {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(AGENT_NAME, AGENT_NAMESPACE) };
}

/**
 * What a privileged agent on every node may do, and no more: read pods, read trace
 * sessions and installed profiles and write their status. No secrets, no exec, no writes elsewhere:
 * an agent never creates, changes or deletes a profile, it only says whether its node holds it.
 */
export function agentClusterRole() {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: meta(AGENT_NAME),
    rules: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [GROUP], resources: ['tracesessions'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [GROUP], resources: ['tracesessions/status'], verbs: ['get', 'patch'] },
      // Its own node's records (server-side apply creates, then patches); the session's owner
      // reference deletes them, so no delete.
      { apiGroups: [GROUP], resources: ['tracerecords'], verbs: ['list', 'create', 'patch'] },
      { apiGroups: [GROUP], resources: ['seccompprofileinstalls'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [GROUP], resources: ['seccompprofileinstalls/status'], verbs: ['get', 'patch'] },
    ],
  };
}

/** Who the agents are to the API server: their ServiceAccount. */
const AGENT_USER = `system:serviceaccount:${AGENT_NAMESPACE}:${AGENT_NAME}`;
/** The node a pod's ServiceAccount token was issued on, in its user's extra (Kubernetes ≥ 1.30). */
const TOKEN_NODE = 'authentication.kubernetes.io/node-name';
const OWN_NODE_POLICY = 'harden-agent-own-node';

/**
 * RBAC cannot say "its own node's records only": every agent is one ServiceAccount. This policy
 * does, as NodeRestriction does for kubelets: an agent's token names the node its pod runs on, and
 * a TraceRecord it creates or changes must be that node's, so one node's agent cannot write (or
 * overwrite) another's part of a session. A token without the node (a cluster that does not bind
 * it) is let through, as RBAC alone would.
 */
export function agentOwnNodePolicy() {
  const node = `request.userInfo.extra['${TOKEN_NODE}'][0]`;
  const bound = `has(request.userInfo.extra) && '${TOKEN_NODE}' in request.userInfo.extra`;
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: meta(OWN_NODE_POLICY),
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: [GROUP],
            apiVersions: ['*'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['tracerecords'],
          },
        ],
      },
      matchConditions: [{ name: 'agent', expression: `request.userInfo.username == '${AGENT_USER}'` }],
      validations: [
        {
          expression: `!(${bound}) || object.record.node == ${node}`,
          messageExpression: `"the agent on node " + ${node} + " may write only its own node's TraceRecords, not node " + object.record.node + "'s"`,
          reason: 'Forbidden',
        },
        {
          expression: `oldObject == null || oldObject.record.node == object.record.node`,
          message: "a TraceRecord's node never changes",
          reason: 'Forbidden',
        },
      ],
    },
  };
}

export function agentOwnNodePolicyBinding() {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: meta(OWN_NODE_POLICY),
    spec: { policyName: OWN_NODE_POLICY, validationActions: ['Deny'] },
  };
}

/**
 * What a cluster may lack without the agent failing: admission policies are GA in Kubernetes 1.30.
 * `deploy` goes on without them, and says what is then not enforced.
 */
export function optionalManifest(obj: { kind: string }): string | undefined {
  return obj.kind.startsWith('ValidatingAdmissionPolicy')
    ? "this cluster serves no admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (Kubernetes < 1.30): each node's agent may write any node's TraceRecords"
    : undefined;
}

/**
 * In its own namespace only: the per-node report (kernel, kinds served) `kubectl harden status`
 * reads, one ConfigMap per node, written by server-side apply (create, then patch).
 */
export function agentRole() {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(AGENT_NAME, AGENT_NAMESPACE),
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'patch'] }],
  };
}

export function agentRoleBinding() {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(AGENT_NAME, AGENT_NAMESPACE),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: AGENT_NAME },
    subjects: [{ kind: 'ServiceAccount', name: AGENT_NAME, namespace: AGENT_NAMESPACE }],
  };
}

export function agentClusterRoleBinding() {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: meta(AGENT_NAME),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: AGENT_NAME },
    subjects: [{ kind: 'ServiceAccount', name: AGENT_NAME, namespace: AGENT_NAMESPACE }],
  };
}

/**
 * Who may trace is decided by RBAC on sessions in the target's namespace: this role, aggregated into
 * the built-in admin and edit roles, lets namespace admins and editors trace their own pods.
 */
export function tracerClusterRole() {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: {
      name: 'harden-tracer',
      labels: {
        ...AGENT_LABELS,
        'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
        'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
      },
    },
    // The plugin patches (a merge patch, or server-side apply) and never replaces, so no update.
    rules: [
      {
        apiGroups: [GROUP],
        resources: ['tracesessions'],
        verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
      },
      { apiGroups: [GROUP], resources: ['tracesessions/status'], verbs: ['get'] },
      // What the agents recorded; only they write it.
      { apiGroups: [GROUP], resources: ['tracerecords'], verbs: ['get', 'list', 'watch'] },
      // Installing a profile on the nodes is decided the same way: by RBAC in its namespace.
      {
        apiGroups: [GROUP],
        resources: ['seccompprofileinstalls'],
        verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
      },
      { apiGroups: [GROUP], resources: ['seccompprofileinstalls/status'], verbs: ['get'] },
    ],
  };
}

function hostMount(name: string, path: string, readOnly: boolean, at = path, type?: string) {
  return {
    volume: { name, hostPath: { path, ...(type ? { type } : {}) } },
    mount: { name, mountPath: at, readOnly },
  };
}

export function agentDaemonSet(opts: DeployOptions = {}) {
  const kubeletRoot = (opts.kubeletRoot ?? DEFAULT_KUBELET_ROOT).replace(/\/+$/, '') || '/';
  const mounts = [
    hostMount('cgroup', '/sys/fs/cgroup', true),
    hostMount('debugfs', '/sys/kernel/debug', false),
    hostMount('tracefs', '/sys/kernel/tracing', false),
    hostMount('btf', '/sys/kernel/btf', true),
    hostMount('modules', '/lib/modules', true),
    // Installed profiles go here, and only here: kubelet's seccomp root, not the rest of its state
    // (pod volumes, secrets). kubelet itself does not create it.
    hostMount('kubelet-seccomp', `${kubeletRoot}/seccomp`, false, SECCOMP_MOUNT, 'DirectoryOrCreate'),
  ];
  const args = ['--flush-interval', String(opts.flushSeconds ?? 3), '--kubelet-root', kubeletRoot];
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta(AGENT_NAME, AGENT_NAMESPACE),
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': AGENT_NAME } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: { ...AGENT_LABELS }, annotations: { 'harden.dev/agent-version': VERSION } },
        spec: {
          serviceAccountName: AGENT_NAME,
          hostPID: true,
          priorityClassName: 'system-node-critical',
          tolerations: [{ operator: 'Exists' }],
          containers: [
            {
              name: 'agent',
              image: opts.image ?? defaultImage(),
              args,
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                // The owner of the node report it publishes: the report goes with the pod.
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
              ],
              securityContext: { privileged: true },
              resources: {
                requests: { cpu: '50m', memory: '96Mi' },
                limits: { cpu: '1', memory: '512Mi' },
              },
              readinessProbe: { exec: { command: ['cat', READY_FILE] }, periodSeconds: 5 },
              volumeMounts: mounts.map((m) => m.mount),
            },
          ],
          volumes: mounts.map((m) => m.volume),
        },
      },
    },
  };
}

/** Everything `deploy` applies, in the order it must exist. */
export function deployManifests(opts: DeployOptions = {}) {
  return [
    traceSessionCrd(),
    traceRecordCrd(),
    seccompProfileInstallCrd(),
    agentNamespace(),
    agentServiceAccount(),
    agentClusterRole(),
    agentClusterRoleBinding(),
    agentRole(),
    agentRoleBinding(),
    tracerClusterRole(),
    agentOwnNodePolicy(),
    agentOwnNodePolicyBinding(),
    agentDaemonSet(opts),
  ];
}
