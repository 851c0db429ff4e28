/**
 * The Pod Security Standards level a pod spec meets (kubernetes.io/docs/concepts/security/pod-security-standards,
 * the checks of pod-security-admission for baseline and restricted). Pure.
 */
import type { ContainerSpec, PodSpec, SecurityContext } from './types';

export type PssLevel = 'restricted' | 'baseline' | 'privileged';

const BASELINE_CAPS = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);
const RESTRICTED_VOLUMES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);

export interface PssResult {
  level: PssLevel;
  /** Why baseline is not met (empty when it is). */
  baselineViolations: string[];
  /** Why restricted is not met (empty when it is). */
  restrictedViolations: string[];
}

const allContainers = (spec: PodSpec): ContainerSpec[] => [
  ...(spec.initContainers ?? []),
  ...spec.containers,
];

export function evaluatePss(spec: PodSpec): PssResult {
  const base: string[] = [];
  const restr: string[] = [];
  const pod = spec.securityContext ?? {};
  if (spec.hostNetwork) base.push('hostNetwork: true');
  if (spec.hostPID) base.push('hostPID: true');
  if (spec.hostIPC) base.push('hostIPC: true');
  for (const v of spec.volumes ?? []) {
    if (v.hostPath) base.push(`volume "${v.name}" is a hostPath`);
    const type = Object.keys(v).find((k) => k !== 'name');
    if (type && !RESTRICTED_VOLUMES.has(type)) restr.push(`volume "${v.name}" is of type ${type}`);
  }
  if (pod.seccompProfile?.type === 'Unconfined') base.push('pod seccompProfile is Unconfined');
  if (pod.runAsUser === 0) restr.push('pod runAsUser is 0');
  for (const c of allContainers(spec)) {
    const sc: SecurityContext = c.securityContext ?? {};
    const who = `container "${c.name}"`;
    if (sc.privileged) base.push(`${who} is privileged`);
    for (const cap of sc.capabilities?.add ?? []) {
      if (!BASELINE_CAPS.has(cap)) base.push(`${who} adds capability ${cap}`);
      else if (cap !== 'NET_BIND_SERVICE') restr.push(`${who} adds capability ${cap}`);
    }
    for (const p of c.ports ?? []) if (p.hostPort) base.push(`${who} uses hostPort ${p.hostPort}`);
    if (sc.procMount && sc.procMount !== 'Default') base.push(`${who} has procMount ${sc.procMount}`);
    if (sc.seccompProfile?.type === 'Unconfined') base.push(`${who} has seccompProfile Unconfined`);
    if (sc.allowPrivilegeEscalation !== false)
      restr.push(`${who} does not set allowPrivilegeEscalation: false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) restr.push(`${who} does not drop ALL capabilities`);
    const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
    if (nonRoot !== true) restr.push(`${who} may run as root (runAsNonRoot is not true)`);
    if (sc.runAsUser === 0) restr.push(`${who} has runAsUser 0`);
    const seccomp = sc.seccompProfile ?? pod.seccompProfile;
    if (!seccomp || seccomp.type === 'Unconfined') {
      restr.push(`${who} has no seccompProfile RuntimeDefault or Localhost`);
    }
  }
  const restrictedViolations = [...base, ...restr];
  const level: PssLevel = base.length ? 'privileged' : restr.length ? 'baseline' : 'restricted';
  return { level, baselineViolations: base, restrictedViolations };
}
