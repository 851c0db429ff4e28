/** The minimal shapes of the built-in objects the plugin reads. */
export interface Meta {
  name: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  generation?: number;
  resourceVersion?: string;
  ownerReferences?: { kind: string; name: string; controller?: boolean; uid?: string }[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: Meta;
}

export interface List<T> {
  items: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

export interface ContainerStatus {
  name: string;
  containerID?: string;
  ready?: boolean;
  restartCount?: number;
  image?: string;
  state?: {
    running?: { startedAt?: string };
    waiting?: { reason?: string; message?: string };
    terminated?: { reason?: string };
  };
}

interface Resources {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

export interface Pod extends KubeObject {
  spec: {
    nodeName?: string;
    hostNetwork?: boolean;
    /** How long kubelet waits after the stop signal before SIGKILL; the API's default is 30. */
    terminationGracePeriodSeconds?: number;
    containers: {
      name: string;
      image?: string;
      ports?: { name?: string; containerPort: number; protocol?: string }[];
      resources?: Resources;
      volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
    }[];
    initContainers?: { name: string; resources?: Resources }[];
  };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip: string }[];
    hostIP?: string;
    qosClass?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

/** Every container's status, init containers' (sidecars among them) first, as they start. */
export const allContainerStatuses = (pod: Pod): ContainerStatus[] => [
  ...(pod.status?.initContainerStatuses ?? []),
  ...(pod.status?.containerStatuses ?? []),
];

export interface Node extends KubeObject {
  status?: {
    nodeInfo?: {
      architecture?: string;
      kernelVersion?: string;
      osImage?: string;
      containerRuntimeVersion?: string;
    };
    addresses?: { type: string; address: string }[];
    conditions?: { type: string; status: string }[];
  };
}

export interface DaemonSet extends KubeObject {
  spec: { template: { spec: { containers: { name: string; image: string }[] } } };
  status?: {
    desiredNumberScheduled?: number;
    numberReady?: number;
    updatedNumberScheduled?: number;
    numberAvailable?: number;
    observedGeneration?: number;
  };
}

/** Every address of a pod (podIP and the dual-stack podIPs), without repeats. */
export function podIPs(pod: { status?: { podIP?: string; podIPs?: { ip: string }[] } }): string[] {
  const all = [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((x) => x.ip)];
  return [...new Set(all.filter((ip): ip is string => Boolean(ip)))];
}

/**
 * The addresses a pod holds now: none once it finished (a Job's run, an evicted pod), which keeps
 * its status.podIP while the CNI may already have given the address to another pod.
 */
export function heldIPs(pod: {
  status?: { phase?: string; podIP?: string; podIPs?: { ip: string }[] };
}): string[] {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed' ? [] : podIPs(pod);
}

export function podReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/**
 * The workload a pod belongs to: its controller, one level up for a Deployment's ReplicaSet (known
 * by the pod-template-hash suffix, so no extra lookup is needed); null for a bare pod.
 */
export function ownerOf(pod: {
  metadata: Pick<Meta, 'labels' | 'ownerReferences'>;
}): { kind: string; name: string } | null {
  const refs = pod.metadata.ownerReferences ?? [];
  const ref = refs.find((o) => o.controller) ?? refs[0];
  if (!ref) return null;
  const hash = pod.metadata.labels?.['pod-template-hash'];
  if (ref.kind === 'ReplicaSet' && hash && ref.name.endsWith(`-${hash}`)) {
    return { kind: 'Deployment', name: ref.name.slice(0, -hash.length - 1) };
  }
  return { kind: ref.kind, name: ref.name };
}
