/** Capabilities (securityContext) sessions: what each target container does with its privileges. */
import type { NodeArch } from '../../../seccomp/names';
import type { Recorder } from '../../core/recorder';
import { privilegesFromMaps, type PrivilegeEvent } from './parse';
import { CAPS_MAPS, capsPart } from './program';
import { privilegeRecords } from './record';
import { privilegesSchema } from './schema';

const ARCHES: readonly NodeArch[] = ['amd64', 'arm64'];

export const privileges: Recorder<PrivilegeEvent> = {
  type: 'capabilities',
  routes: [
    {
      // capability:cap_capable exists from Linux 6.14; kernel_cap_t is one u64 from 6.3.
      name: 'tracepoint',
      arches: ARCHES,
      members: [{ type: 'kernel_cap_t', member: 'val' }],
      parts: ({ targets, arch }) => [capsPart(targets, arch as NodeArch)],
    },
  ],
  output: { maps: Object.values(CAPS_MAPS).flat() },
  parseMaps: privilegesFromMaps,
  record: privilegeRecords,
  schema: privilegesSchema,
};
