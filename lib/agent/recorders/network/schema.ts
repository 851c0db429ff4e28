/** The network sessions' fields of the TraceSession status schema (see ./types). */
import { bool, dateTime, int, str } from '../../core/schema';
import { MAX_FLOWS_PER_NODE } from './types';

const flow = {
  type: 'object',
  required: ['pod', 'direction', 'proto', 'remoteIP'],
  properties: {
    pod: str,
    direction: { type: 'string', enum: ['ingress', 'egress'] },
    proto: { type: 'string', enum: ['TCP', 'UDP'] },
    localIP: str,
    localPort: { type: 'integer', minimum: 0, maximum: 65535 },
    remoteIP: str,
    remotePort: { type: 'integer', minimum: 0, maximum: 65535 },
    count: int,
    firstSeen: dateTime,
    lastSeen: dateTime,
  },
};

export const networkSchema = {
  node: { flows: { type: 'array', items: flow, maxItems: MAX_FLOWS_PER_NODE }, truncated: bool },
};
