import { pickClusterDns } from '../../../lib/netpol/cluster-dns';
import type { ViewService } from '../../../lib/netpol/cluster-view';

const svc = (namespace: string, name: string, spec: Partial<ViewService['spec']> = {}): ViewService => ({
  metadata: { namespace, name },
  spec: {
    selector: { app: name },
    ports: [
      { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
      { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 'dns-tcp' },
    ],
    ...spec,
  },
});
const named = (s: ViewService | undefined) => s && `${s.metadata.namespace}/${s.metadata.name}`;
const web = svc('shop', 'web', { ports: [{ port: 80 }] });
const metrics = svc('kube-system', 'metrics-server', { ports: [{ port: 443 }] });

describe('the cluster DNS Service', () => {
  test('kube-system/kube-dns first, wherever other DNS servers run', () => {
    expect(named(pickClusterDns([svc('dns', 'coredns'), svc('kube-system', 'kube-dns'), web]))).toBe(
      'kube-system/kube-dns',
    );
  });

  test("OpenShift's openshift-dns/dns-default and RKE2's chart-named Service", () => {
    expect(named(pickClusterDns([web, metrics, svc('openshift-dns', 'dns-default')]))).toBe(
      'openshift-dns/dns-default',
    );
    expect(named(pickClusterDns([metrics, svc('kube-system', 'rke2-coredns-rke2-coredns'), web]))).toBe(
      'kube-system/rke2-coredns-rke2-coredns',
    );
  });

  test("else the only kube-system Service with pods behind a port 53 (kubespray's coredns)", () => {
    expect(named(pickClusterDns([web, metrics, svc('kube-system', 'coredns')]))).toBe('kube-system/coredns');
    // Two candidates: no guess.
    expect(pickClusterDns([svc('kube-system', 'coredns'), svc('kube-system', 'dnsmasq')])).toBeUndefined();
    // Port 53 outside kube-system is some application's own resolver.
    expect(pickClusterDns([web, svc('pihole', 'dns')])).toBeUndefined();
  });

  test('a well-known name that selects no pods or has no port 53 does not serve DNS', () => {
    expect(pickClusterDns([svc('kube-system', 'kube-dns', { selector: {} })])).toBeUndefined();
    expect(
      named(
        pickClusterDns([
          svc('kube-system', 'kube-dns', { ports: [{ port: 9153 }] }),
          svc('kube-system', 'coredns'),
        ]),
      ),
    ).toBe('kube-system/coredns');
  });
});
