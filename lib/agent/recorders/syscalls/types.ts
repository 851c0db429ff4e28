/**
 * What seccomp sessions record, as the TraceSession status carries it: the syscall numbers each
 * target container made, in its container record. Pure data; the plugin reads it (seccomp
 * stop/show), the agent writes it.
 */
declare module '../../../session/types' {
  interface SessionKinds {
    /** Syscalls made (seccomp profiles). */
    seccomp: true;
  }
  interface ContainerRecord {
    /** Seccomp sessions: raw syscall numbers of the node's architecture, sorted and unique. */
    syscalls?: number[];
    /** Seccomp sessions: what of its life was seen besides its start. */
    life?: ContainerLife;
  }
}

export {};
