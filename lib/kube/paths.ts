/** Where a kind of object lives on the API server; pure, so commands and the agent share it. */
export interface ResourceRef {
  group: string; // '' for the core group
  version: string;
  resource: string; // plural
  namespaced: boolean;
}

export const R = {
  namespaces: { group: '', version: 'v1', resource: 'namespaces', namespaced: false },
  nodes: { group: '', version: 'v1', resource: 'nodes', namespaced: false },
  pods: { group: '', version: 'v1', resource: 'pods', namespaced: true },
  services: { group: '', version: 'v1', resource: 'services', namespaced: true },
  secrets: { group: '', version: 'v1', resource: 'secrets', namespaced: true },
  configmaps: { group: '', version: 'v1', resource: 'configmaps', namespaced: true },
  serviceaccounts: { group: '', version: 'v1', resource: 'serviceaccounts', namespaced: true },
  endpointslices: { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', namespaced: true },
  daemonsets: { group: 'apps', version: 'v1', resource: 'daemonsets', namespaced: true },
  deployments: { group: 'apps', version: 'v1', resource: 'deployments', namespaced: true },
  statefulsets: { group: 'apps', version: 'v1', resource: 'statefulsets', namespaced: true },
  replicasets: { group: 'apps', version: 'v1', resource: 'replicasets', namespaced: true },
  jobs: { group: 'batch', version: 'v1', resource: 'jobs', namespaced: true },
  cronjobs: { group: 'batch', version: 'v1', resource: 'cronjobs', namespaced: true },
  clusterroles: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'clusterroles',
    namespaced: false,
  },
  clusterrolebindings: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'clusterrolebindings',
    namespaced: false,
  },
  roles: { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', namespaced: true },
  rolebindings: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'rolebindings',
    namespaced: true,
  },
  validatingadmissionpolicies: {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    resource: 'validatingadmissionpolicies',
    namespaced: false,
  },
  validatingadmissionpolicybindings: {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    resource: 'validatingadmissionpolicybindings',
    namespaced: false,
  },
  crds: {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    resource: 'customresourcedefinitions',
    namespaced: false,
  },
  tracesessions: { group: 'harden.dev', version: 'v1alpha1', resource: 'tracesessions', namespaced: true },
  tracerecords: { group: 'harden.dev', version: 'v1alpha1', resource: 'tracerecords', namespaced: true },
  seccompprofileinstalls: {
    group: 'harden.dev',
    version: 'v1alpha1',
    resource: 'seccompprofileinstalls',
    namespaced: true,
  },
  networkpolicies: {
    group: 'networking.k8s.io',
    version: 'v1',
    resource: 'networkpolicies',
    namespaced: true,
  },
} satisfies Record<string, ResourceRef>;

export function resourcePath(
  ref: ResourceRef,
  opts: { namespace?: string; name?: string; subresource?: string } = {},
) {
  const base = ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
  const ns = ref.namespaced && opts.namespace ? `/namespaces/${encodeURIComponent(opts.namespace)}` : '';
  const name = opts.name ? `/${encodeURIComponent(opts.name)}` : '';
  const sub = opts.name && opts.subresource ? `/${opts.subresource}` : '';
  return `${base}${ns}/${ref.resource}${name}${sub}`;
}

/** The (group, resource) of an API path, for error messages that name what was refused. */
export function describePath(path: string): { resource: string; namespace?: string; name?: string } {
  const parts = path.split('?')[0].split('/').filter(Boolean);
  let i = parts[0] === 'api' ? 2 : 3;
  let namespace: string | undefined;
  if (parts[i] === 'namespaces' && parts.length > i + 2) {
    namespace = decodeURIComponent(parts[i + 1]);
    i += 2;
  }
  const group = parts[0] === 'apis' ? parts[1] : '';
  const plural = parts[i] ?? '';
  const name = parts[i + 1] ? decodeURIComponent(parts[i + 1]) : undefined;
  const sub = parts[i + 2];
  const resource = `${plural}${group ? `.${group}` : ''}${sub ? `/${sub}` : ''}`;
  return { resource, namespace, name };
}

export function verbOf(method: string, path: string, watch = false): string {
  if (watch) return 'watch';
  const m = method.toUpperCase();
  if (m === 'GET') return describePath(path).name ? 'get' : 'list';
  if (m === 'POST') return 'create';
  if (m === 'PUT') return 'update';
  if (m === 'PATCH') return 'patch';
  if (m === 'DELETE') return describePath(path).name ? 'delete' : 'deletecollection';
  return m.toLowerCase();
}

const KINDS: Record<string, ResourceRef> = {
  Namespace: R.namespaces,
  ServiceAccount: R.serviceaccounts,
  ClusterRole: R.clusterroles,
  ClusterRoleBinding: R.clusterrolebindings,
  Role: R.roles,
  RoleBinding: R.rolebindings,
  ValidatingAdmissionPolicy: R.validatingadmissionpolicies,
  ValidatingAdmissionPolicyBinding: R.validatingadmissionpolicybindings,
  CustomResourceDefinition: R.crds,
  DaemonSet: R.daemonsets,
  TraceSession: R.tracesessions,
  TraceRecord: R.tracerecords,
  SeccompProfileInstall: R.seccompprofileinstalls,
  Deployment: R.deployments,
  StatefulSet: R.statefulsets,
  NetworkPolicy: R.networkpolicies,
};

/** The API path of a manifest object (by kind), for apply and delete. */
export function objectPath(obj: { kind: string; metadata: { name: string; namespace?: string } }): string {
  const ref = KINDS[obj.kind];
  if (!ref) throw new Error(`no API path known for kind ${obj.kind}`);
  return resourcePath(ref, { namespace: obj.metadata.namespace, name: obj.metadata.name });
}

/** kubectl's way of naming an object in messages: `daemonset.apps/harden-agent`. */
export function objectName(obj: { kind: string; metadata: { name: string } }): string {
  const ref = KINDS[obj.kind];
  const group = ref?.group ? `.${ref.group}` : '';
  return `${obj.kind.toLowerCase()}${group}/${obj.metadata.name}`;
}
