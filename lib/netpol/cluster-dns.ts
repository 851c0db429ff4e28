import type { ViewService } from './cluster-view';

export interface ServiceRef {
  namespace: string;
  name: string;
}

/**
 * Where distributions put the Service that pods' resolv.conf points at, most common first:
 * kubeadm, kind, k3s, EKS, GKE and AKS call it kube-system/kube-dns; OpenShift and OKD
 * openshift-dns/dns-default (CoreDNS on 5353 behind port 53); RKE2 names it after its chart.
 */
export const CLUSTER_DNS_SERVICES: readonly ServiceRef[] = [
  { namespace: 'kube-system', name: 'kube-dns' },
  { namespace: 'openshift-dns', name: 'dns-default' },
  { namespace: 'kube-system', name: 'rke2-coredns-rke2-coredns' },
];

/** A Service whose pods answer DNS: it selects pods and has a port 53. */
export function servesDns(svc: ViewService): boolean {
  return Object.keys(svc.spec.selector ?? {}).length > 0 && (svc.spec.ports ?? []).some((p) => p.port === 53);
}

/**
 * The cluster DNS Service among `services`: the first well-known one that serves DNS, else the only
 * kube-system Service that does (kubespray's `coredns`, a CoreDNS chart's release name). Several
 * such Services and none well known: undefined, since guessing would allow the wrong pods.
 */
export function pickClusterDns(services: readonly ViewService[]): ViewService | undefined {
  const at = (ref: ServiceRef) =>
    services.find((s) => s.metadata.namespace === ref.namespace && s.metadata.name === ref.name);
  for (const ref of CLUSTER_DNS_SERVICES) {
    const svc = at(ref);
    if (svc && servesDns(svc)) return svc;
  }
  const inKubeSystem = services.filter((s) => s.metadata.namespace === 'kube-system' && servesDns(s));
  return inKubeSystem.length === 1 ? inKubeSystem[0] : undefined;
}
