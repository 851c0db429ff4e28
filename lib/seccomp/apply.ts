/**
 * `seccomp apply`: which nodes a workload's pods may land on, and the strategic merge patch that
 * points its pod template at an installed Localhost profile. Pure: the objects come as data.
 */
import { InstallError, type NodeInstall, type SeccompProfileInstall } from './install';

export const APPLY_KINDS = {
  Deployment: ['deployment', 'deployments', 'deploy', 'deployment.apps'],
  StatefulSet: ['statefulset', 'statefulsets', 'sts', 'statefulset.apps'],
  DaemonSet: ['daemonset', 'daemonsets', 'ds', 'daemonset.apps'],
} as const;
export type ApplyKind = keyof typeof APPLY_KINDS;

/** `deployment/nginx` (kubectl's spellings of the kind) → kind and name. */
export function parseWorkloadRef(ref: string): { kind: ApplyKind; name: string } {
  const [word, name, ...rest] = ref.split('/');
  const kind = (Object.keys(APPLY_KINDS) as ApplyKind[]).find((k) =>
    (APPLY_KINDS[k] as readonly string[]).includes(word.toLowerCase()),
  );
  if (!kind || !name || rest.length)
    throw new InstallError(
      `${JSON.stringify(ref)} is not KIND/NAME of a workload (deployment/NAME, statefulset/NAME or daemonset/NAME)`,
    );
  return { kind, name };
}

interface SeccompProfileRef {
  type: string;
  localhostProfile?: string;
}
interface ContainerSpec {
  name: string;
  securityContext?: { seccompProfile?: SeccompProfileRef };
}
interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}
interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}
export interface PodSpec {
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  securityContext?: { seccompProfile?: SeccompProfileRef };
  nodeSelector?: Record<string, string>;
  nodeName?: string;
  tolerations?: Toleration[];
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: {
        nodeSelectorTerms?: {
          matchExpressions?: NodeSelectorRequirement[];
          matchFields?: NodeSelectorRequirement[];
        }[];
      };
    };
  };
}
export interface NodeInfo {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { taints?: { key: string; value?: string; effect: string }[] };
}

function matches(req: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
      return value !== undefined && Number(value) > Number(values[0]);
    case 'Lt':
      return value !== undefined && Number(value) < Number(values[0]);
    default:
      return false;
  }
}

function tolerates(
  tolerations: Toleration[],
  taint: { key: string; value?: string; effect: string },
): boolean {
  return tolerations.some(
    (t) =>
      (!t.effect || t.effect === taint.effect) &&
      (t.operator === 'Exists'
        ? !t.key || t.key === taint.key
        : t.key === taint.key && (t.value ?? '') === (taint.value ?? '')),
  );
}

/**
 * The nodes the scheduler may put the pods on, as far as the pod template says (nodeName,
 * nodeSelector, required node affinity, taints that repel): a superset is safe, since the profile
 * must be on every one of them. Cordoned nodes count: they may be uncordoned.
 */
export function schedulableNodes(spec: PodSpec, nodes: readonly NodeInfo[]): string[] {
  const terms =
    spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  return nodes
    .filter((n) => {
      const labels = n.metadata.labels ?? {};
      if (spec.nodeName && spec.nodeName !== n.metadata.name) return false;
      for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) if (labels[k] !== v) return false;
      if (
        terms?.length &&
        !terms.some(
          (t) =>
            (t.matchExpressions ?? []).every((r) => matches(r, labels[r.key])) &&
            (t.matchFields ?? []).every((r) =>
              matches(r, r.key === 'metadata.name' ? n.metadata.name : undefined),
            ),
        )
      )
        return false;
      return (n.spec?.taints ?? [])
        .filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute')
        .every((t) => tolerates(spec.tolerations ?? [], t));
    })
    .map((n) => n.metadata.name)
    .sort();
}

/** The nodes among `nodes` that do not hold the install's current digest, each with why. */
export function nodesLacking(install: SeccompProfileInstall, nodes: readonly string[]): string[] {
  const entries = new Map<string, NodeInstall>((install.status?.nodes ?? []).map((n) => [n.node, n]));
  return nodes.flatMap((node) => {
    const e = entries.get(node);
    if (!e) return [`${node} (no agent reported it)`];
    if (e.state === 'Failed') return [`${node} (${e.message ?? 'failed'})`];
    if (e.digest !== install.spec.digest) return [`${node} (holds an older version)`];
    return [];
  });
}

const describe = (p: SeccompProfileRef | undefined) =>
  !p ? '<none>' : p.type === 'Localhost' ? `Localhost ${p.localhostProfile}` : p.type;

/**
 * On the pod template: the digest of the profile applied. kubelet reads a Localhost profile only
 * when it creates a container, so a reinstalled profile (audit variant → enforcing) needs new
 * pods: the changed annotation makes applying it again roll them out.
 */
export const DIGEST_ANNOTATION = 'harden.dev/seccomp-digest';

export interface SeccompPatch {
  /** Strategic merge patch for the workload; undefined when it already runs under this profile. */
  patch?: Record<string, unknown>;
  /** "field: before → after" lines. */
  changes: string[];
  warnings: string[];
}

/**
 * Points the pod template (or one container) at the Localhost profile. Without -c the pod-level
 * field is set, which a container's own seccompProfile overrides: those containers are named.
 */
export function seccompPatch(
  kind: ApplyKind,
  template: { metadata?: { annotations?: Record<string, string> }; spec: PodSpec },
  profile: { localhostProfile: string; digest: string },
  container?: string,
): SeccompPatch {
  const { spec } = template;
  const { localhostProfile } = profile;
  const want: SeccompProfileRef = { type: 'Localhost', localhostProfile };
  const same = (p?: SeccompProfileRef) => p?.type === 'Localhost' && p.localhostProfile === localhostProfile;
  const tag = kind.toLowerCase();
  const changes: string[] = [];
  const warnings: string[] = [];
  let podSpec: Record<string, unknown> | undefined;
  if (container !== undefined) {
    const all = [...spec.containers, ...(spec.initContainers ?? [])];
    const c = all.find((x) => x.name === container);
    if (!c)
      throw new InstallError(
        `container "${container}" is not in the pod template (it has ${all.map((x) => x.name).join(', ')})`,
      );
    const list = spec.containers.includes(c) ? 'containers' : 'initContainers';
    const field = `${tag}: ${list}[${container}].securityContext.seccompProfile`;
    const before = c.securityContext?.seccompProfile ?? spec.securityContext?.seccompProfile;
    if (same(c.securityContext?.seccompProfile)) changes.push(`${field}: already ${describe(want)}`);
    else {
      changes.push(`${field}: ${describe(before)} → ${describe(want)}`);
      podSpec = { [list]: [{ name: container, securityContext: { seccompProfile: want } }] };
    }
  } else {
    const field = `${tag}: securityContext.seccompProfile (pod)`;
    const inheriting: string[] = [];
    for (const c of [...spec.containers, ...(spec.initContainers ?? [])])
      if (c.securityContext?.seccompProfile && !same(c.securityContext.seccompProfile))
        warnings.push(
          `warning: container ${c.name} sets its own seccompProfile (${describe(c.securityContext.seccompProfile)}), which wins over the pod's; apply to it with -c ${c.name}`,
        );
      else inheriting.push(c.name);
    // A profile is recorded per container: under another container's, an init container or
    // sidecar is denied what it alone does, and the pod never starts or serves.
    if (inheriting.length > 1)
      warnings.push(
        `warning: the pod-level profile applies to every container without its own: ${inheriting.join(', ')}; ` +
          'a profile recorded from one of them denies what the others do: apply each its own profile with -c NAME',
      );
    if (same(spec.securityContext?.seccompProfile)) changes.push(`${field}: already ${describe(want)}`);
    else {
      changes.push(`${field}: ${describe(spec.securityContext?.seccompProfile)} → ${describe(want)}`);
      podSpec = { securityContext: { seccompProfile: want } };
    }
  }
  const had = template.metadata?.annotations?.[DIGEST_ANNOTATION];
  if (!podSpec && had === profile.digest) return { changes, warnings };
  if (had !== profile.digest)
    changes.push(
      `${tag}: template annotation ${DIGEST_ANNOTATION}: ${had ?? '<none>'} → ${profile.digest}` +
        (podSpec ? '' : ' (the profile was reinstalled: new pods load it)'),
    );
  return {
    patch: {
      spec: {
        template: {
          metadata: { annotations: { [DIGEST_ANNOTATION]: profile.digest } },
          ...(podSpec ? { spec: podSpec } : {}),
        },
      },
    },
    changes,
    warnings,
  };
}
