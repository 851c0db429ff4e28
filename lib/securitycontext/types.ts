/** The Kubernetes shapes securityContext synthesis reads and writes (core/v1, the fields it uses). */

export interface SeccompProfile {
  type: 'RuntimeDefault' | 'Localhost' | 'Unconfined';
  localhostProfile?: string;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: SeccompProfile;
  procMount?: string;
  /** Read only to judge the Pod Security level; the advice never sets them. */
  seLinuxOptions?: { user?: string; role?: string; type?: string; level?: string };
  appArmorProfile?: { type: string; localhostProfile?: string };
  windowsOptions?: { hostProcess?: boolean };
}

export interface ContainerSpec {
  name: string;
  image?: string;
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  ports?: { containerPort: number; hostPort?: number; protocol?: string }[];
  /** Probes, for whether one runs a command in the container (exec). */
  startupProbe?: { exec?: object };
  readinessProbe?: { exec?: object };
  livenessProbe?: { exec?: object };
  /** An init container's `Always` makes it a sidecar, which runs (and is stopped) as the pod does. */
  restartPolicy?: string;
}

export interface Volume {
  name: string;
  emptyDir?: object;
  hostPath?: { path: string };
  [type: string]: unknown;
}

export interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext?: Pick<
    SecurityContext,
    | 'runAsUser'
    | 'runAsGroup'
    | 'runAsNonRoot'
    | 'seccompProfile'
    | 'seLinuxOptions'
    | 'appArmorProfile'
    | 'windowsOptions'
  > & {
    sysctls?: { name: string; value: string }[];
  };
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  volumes?: Volume[];
}

/** The object a patch is for: a pod's controller (Deployment, StatefulSet, …) or the bare pod. */
export interface WorkloadRef {
  kind: string;
  name: string;
  namespace: string;
}
