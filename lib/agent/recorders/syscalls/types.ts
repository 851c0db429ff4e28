/**
 * What seccomp sessions record, as the TraceSession status carries it: the syscall numbers each
 * target container made, in its container record. Pure data; the plugin reads it (seccomp
 * stop/show), the agent writes it.
 */
/** `[nr, intervals, firstSeen, lastSeen]` (see ContainerRecord.seen); times in Unix seconds. */
export type SeenTuple = [number, number, number, number];

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
    /**
     * Seccomp sessions that ask for it (`seccomp audit`'s): per syscall number, sorted,
     * `[nr, intervals, firstSeen, lastSeen]` — in how many of the agent's print intervals the
     * container made it (so at least that many calls), and the Unix seconds of the first print
     * that held it and of the last. Tuples, not objects: a status entry holds one per syscall.
     */
    seen?: SeenTuple[];
  }
}

export {};
