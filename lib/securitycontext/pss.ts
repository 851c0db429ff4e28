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

// Baseline's safe sysctls (pod-security-admission's checkSysctls, through Kubernetes 1.32).
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
]);
// Baseline's SELinux types; a user or role of its own is not allowed at all.
const SELINUX_TYPES = new Set([
  '',
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
]);
const APPARMOR_TYPES = new Set(['RuntimeDefault', 'Localhost']);

/** What baseline forbids in a pod's or a container's securityContext beyond privileges and seccomp. */
function confinementViolations(
  who: string,
  sc: Pick<SecurityContext, 'seLinuxOptions' | 'appArmorProfile' | 'windowsOptions'>,
): string[] {
  const out: string[] = [];
  const se = sc.seLinuxOptions;
  if (se?.type !== undefined && !SELINUX_TYPES.has(se.type)) out.push(`${who} has SELinux type ${se.type}`);
  if (se?.user) out.push(`${who} sets SELinux user ${se.user}`);
  if (se?.role) out.push(`${who} sets SELinux role ${se.role}`);
  const aa = sc.appArmorProfile?.type;
  if (aa !== undefined && !APPARMOR_TYPES.has(aa)) out.push(`${who} has AppArmor profile ${aa}`);
  if (sc.windowsOptions?.hostProcess) out.push(`${who} is a Windows hostProcess`);
  return out;
}

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
  base.push(...confinementViolations('pod', pod));
  for (const s of pod.sysctls ?? [])
    if (!SAFE_SYSCTLS.has(s.name)) base.push(`pod sets sysctl ${s.name}, not one of the safe set`);
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
    base.push(...confinementViolations(who, sc));
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
