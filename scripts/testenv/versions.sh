# Pinned versions of everything the test environment builds (one place to bump).
ETCD_VERSION=v3.6.16
KUBE_VERSION=v1.35.4
KREW_VERSION=v0.4.3
KUBE_ROUTER_VERSION=v2.6.3
