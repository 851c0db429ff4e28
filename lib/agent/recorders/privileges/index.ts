/** Capabilities (securityContext) sessions: what each target container does with its privileges. */
import type { NodeArch } from '../../../seccomp/names';
import type { Recorder, Route } from '../../core/recorder';
import { privilegesFromMaps, type PrivilegeEvent } from './parse';
import { CAPS_MAPS, capsPart, type CapsRoute } from './program';
import { privilegeRecords } from './record';
import { privilegesSchema } from './schema';

const ARCHES: readonly NodeArch[] = ['amd64', 'arm64'];

function route(name: string, caps: CapsRoute): Route {
  return {
    name,
    arches: ARCHES,
    members: [{ type: 'kernel_cap_t', member: caps.capSet }],
    parts: ({ targets, arch, dialect }) => [capsPart(targets, arch as NodeArch, caps, dialect)],
  };
}

export const privileges: Recorder<PrivilegeEvent> = {
  type: 'capabilities',
  // The first route the node's kernel serves is taken: the tracepoint from Linux 6.14, else
  // kprobe + kretprobe on cap_capable; kernel_cap_t is one u64 from 6.3, two u32 before.
  routes: [
    route('tracepoint', { checks: 'tracepoint', capSet: 'val' }),
    route('kprobe', { checks: 'kprobe', capSet: 'val' }),
    route('kprobe-cap2', { checks: 'kprobe', capSet: 'cap' }),
  ],
  output: { maps: Object.values(CAPS_MAPS).flat() },
  parseMaps: privilegesFromMaps,
  record: privilegeRecords,
  tallies: ['count'],
  schema: privilegesSchema,
};
