import { parseAddress, parseCidr, type Address } from './cidr';
import type { ViewNode } from './cluster-view';

/**
 * Where CNIs write the address of the host's own side of the pod network: Calico's tunnel and
 * WireGuard devices, Cilium's cilium_host (when it annotates nodes).
 */
const HOST_SIDE_ANNOTATIONS = [
  'projectcalico.org/IPv4IPIPTunnelAddr',
  'projectcalico.org/IPv4VXLANTunnelAddr',
  'projectcalico.org/IPv6VXLANTunnelAddr',
  'projectcalico.org/IPv4WireguardInterfaceAddr',
  'projectcalico.org/IPv6WireguardInterfaceAddr',
  'network.cilium.io/ipv4-cilium-host',
  'network.cilium.io/ipv6-cilium-host',
];

/**
 * Addresses a node sends from to pods besides status.addresses, so that kubelet's probes from them
 * are known for the node's: the bridge of a bridge CNI (flannel, k3s, kubenet, host-local IPAM)
 * holds the first host address of the node's pod CIDR and routes to local pods from it, and
 * flannel's VXLAN device holds the CIDR's own address, the source of the node's traffic to other
 * nodes' pods; Cilium routes from cilium_host; Calico's tunnel devices have addresses of their own.
 */
export function hostSideAddresses(node: ViewNode): Address[] {
  const out: Address[] = [];
  for (const key of HOST_SIDE_ANNOTATIONS) {
    const value = node.metadata.annotations?.[key];
    const addr = value === undefined ? undefined : parseAddress(value.replace(/\/\d+$/, ''));
    if (addr) out.push(addr);
  }
  const cidrs = node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    // A /31 (or /127) or longer has no room for them beside the pods.
    if (typeof cidr !== 'string' && cidr.prefix < (cidr.family === 4 ? 31 : 127))
      out.push({ family: cidr.family, value: cidr.value }, { family: cidr.family, value: cidr.value + 1n });
  }
  return out;
}
