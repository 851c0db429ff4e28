/**
 * What capabilities (securityContext) sessions record, as the TraceSession status carries it: per
 * container instance, what it did with its privileges. Pure data; the plugin reads it
 * (securitycontext stop/show), the agent writes it.
 */
import type { ContainerIdentity, ContainerLife } from '../../../session/types';

/** Entries per list of a container's privilege record (CRD maxItems, agent cap; beyond it `truncated`). */
export const MAX_PRIVILEGE_ENTRIES = 256;
/** Entries across all of a node's privilege records for one session (paths make an entry ≤ ~300 bytes). */
export const MAX_PRIVILEGE_ENTRIES_PER_NODE = 3000;

/**
 * What a capabilities session saw one container do, aggregated and bounded. Exact: every field is
 * what the kernel reported at the named tracepoint. Inferred (by synthesis, not here): whether a
 * capability check was needed, and whether an absolute path written by a path-only call is on the
 * root filesystem (`rootfs: 'unknown'`, decided from the container's volume mounts).
 */
export interface PrivilegeRecord extends ContainerIdentity {
  /** Its entrypoint's exec was seen: start-up (the user it started as, early set*id calls) is included. */
  recordedFromStart: boolean;
  /** mountPath of each volumeMount of the container, from the pod spec the agent saw. */
  mounts: string[];
  /**
   * Credentials at each exec and after each set*id call. capEffective: hex bit mask. runtime (here,
   * in idChanges and capChecks): the runtime did it while starting a process exec'd into the
   * container (an exec probe, kubectl exec), before that process's exec; not the workload's own.
   */
  credentials: {
    uid: number;
    gid: number;
    euid: number;
    egid: number;
    capEffective: string;
    runtime?: true;
    count: number;
  }[];
  /** set*id calls: args as passed (-1: not an argument of this call), result 0 or -errno. */
  idChanges: { syscall: string; args: number[]; result: number; runtime?: true; count: number }[];
  /** capability:cap_capable: the check, the syscall it ran in, whether granted, with overridden creds. */
  capChecks: {
    capability: string;
    syscall: string;
    granted: boolean;
    onBehalf: boolean;
    runtime?: true;
    count: number;
  }[];
  /** execs that gained privilege (euid, egid, or effective capabilities the caller lacked). */
  execs: {
    path: string;
    euid: [number, number];
    egid: [number, number];
    capEffective: [string, string];
    count: number;
  }[];
  /**
   * Successful writes that may be on the root filesystem: syscall, path as passed, and whether the
   * file or directory is on it (`unknown`: an absolute path no volume mount covers, for synthesis to
   * judge). A list of its own, so that writes into volumes cannot crowd these out of the bound.
   */
  writes: { syscall: string; path: string; rootfs: 'yes' | 'no' | 'unknown'; count: number }[];
  /** Successful writes off the root filesystem (volumes, /dev, /proc…): bounded apart from `writes`. */
  volumeWrites?: { syscall: string; path: string; rootfs: 'yes' | 'no' | 'unknown'; count: number }[];
  /**
   * Files and directories a root process opened for reading that other users may not read
   * (permission bits lack o+r): what would break if it ran as someone else. mode: octal string.
   */
  privateReads?: { path: string; mode: string; uid: number; gid: number; count: number }[];
  /**
   * Ports below 1024 bound successfully, with net.ipv4.ip_unprivileged_port_start of the pod's
   * network namespace then: below it the bind needed CAP_NET_BIND_SERVICE, at or above it none
   * (containerd 2 sets it to 0 in pods, other runtimes leave the kernel's 1024).
   */
  lowBinds?: { port: number; portStart: number; root: boolean; count: number }[];
  /** net.ipv4.ip_unprivileged_port_start of the pod's network namespace, as the kernel held it at its execs. */
  unprivilegedPortStart?: number;
  /** What of its life was seen besides its start (see ContainerLife). */
  life?: ContainerLife;
  /** Some list hit its cap; counts of kept entries stay exact. */
  truncated?: boolean;
  /**
   * The lists that hit their cap (MAX_PRIVILEGE_ENTRIES each, MAX_PRIVILEGE_ENTRIES_PER_NODE across
   * the node's records), by field name. Absent with `truncated` (an older agent's record): any list.
   */
  truncatedLists?: PrivilegeList[];
}

/** The bounded lists of a privilege record. */
export const PRIVILEGE_LISTS = [
  'credentials',
  'idChanges',
  'capChecks',
  'execs',
  'writes',
  'volumeWrites',
  'privateReads',
  'lowBinds',
] as const;
export type PrivilegeList = (typeof PRIVILEGE_LISTS)[number];

declare module '../../../session/types' {
  interface SessionKinds {
    /** Privileges in use (securitycontext). */
    capabilities: true;
  }
  interface NodeRecord {
    /** Capabilities sessions: per container instance, what it did with its privileges. */
    privileges?: PrivilegeRecord[];
  }
}
