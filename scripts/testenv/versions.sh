# Pinned versions of everything the test environment builds (one place to bump).
ETCD_VERSION=v3.6.16
KUBE_VERSION=v1.35.4
KREW_VERSION=v0.4.3
KUBE_ROUTER_VERSION=v2.6.3
FELIX_VERSION=v0.0.0-20251021213802-b1f3c43f8437 # github.com/projectcalico/calico @ v3.31.0 (b1f3c43f8437)
FELIX_API_VERSION=v0.0.0-20251022175904-f2ab03771208 # github.com/projectcalico/api, the v3.31.0 api/ mirror
CONTAINERD_VERSION=v2.2.9
CRI_TOOLS_VERSION=v1.34.0 # the proxy serves v1.34.0 and v1.37.0 only; CRI v1 either way
CNI_PLUGINS_VERSION=v1.9.1
COREDNS_VERSION=v1.14.7
CILIUM_VERSION=v1.20.2 # github.com/cilium/cilium: only its CiliumNetworkPolicy CRD, for schema checks
