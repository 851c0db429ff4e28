/**
 * OpenAPI v3 pieces of the TraceSession status schema that the recorders' fragments and the CRD
 * (lib/deploy/crd.ts) share. Pure data.
 */
export const str = { type: 'string' };
export const int = { type: 'integer', format: 'int64', minimum: 0 };
export const bool = { type: 'boolean' };
export const dateTime = { type: 'string', format: 'date-time' };

/** Which container instance a record is about (ContainerIdentity). */
export const identity = { pod: str, podUID: str, workload: str, container: str, containerID: str };
