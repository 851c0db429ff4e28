/** Network sessions: the target pods' TCP and UDP flows, both ways. */
import { heldIPs } from '../../../kube/objects';
import type { Recorder } from '../../core/recorder';
import { flowsFromMaps, type FlowRecord } from './parse';
import { NET_MAPS, netPart } from './program';
import { flowRecords } from './record';
import { networkSchema } from './schema';

/**
 * Its inputs: whether a session is open (a selector or --all: ingress to any local address counts),
 * and the addresses ingress is matched by.
 */
export const networkInputs = {
  open: 'open',
  ip: (ip: string) => `ip:${ip}`,
};
const IP = networkInputs.ip('');

export const network: Recorder<FlowRecord> = {
  type: 'network',
  routes: [
    {
      name: 'tracepoint',
      parts: ({ inputs }) => [
        netPart(
          inputs.filter((i) => i.startsWith(IP)).map((i) => i.slice(IP.length)),
          inputs.includes(networkInputs.open),
        ),
      ],
    },
  ],
  output: { maps: Object.values(NET_MAPS).flat() },
  parseMaps: flowsFromMaps,
  // A hostNetwork pod's address is the node's and would claim all its traffic; a finished pod's
  // may be another pod's by now.
  inputs: (session, pods) => [
    ...(session.spec.target.podName ? [] : [networkInputs.open]),
    ...pods.filter((p) => !p.spec.hostNetwork).flatMap((p) => heldIPs(p).map(networkInputs.ip)),
  ],
  record: flowRecords,
  tallies: ['count', 'lastSeen'],
  schema: networkSchema,
};
