/**
 * Capabilities-session output of bpftrace `-f json` → privilege observations, and the bounded
 * table that merges them per container for the session status. Pure: identities are passed in.
 *
 * Each map prints as one line, tuple keys joined by ","; a path is always the last field, so a
 * comma inside it survives:
 *   {"type": "map", "data": {"@capc0": {"4756,10,1,0,49": 1}}}
 *   {"type": "map", "data": {"@wr1": {"4756,257,1,/var/run/nginx.pid": 1}}}
 */
import { posix } from 'node:path';
import { syscallName, type NodeArch } from '../seccomp/names';
import {
  MAX_PRIVILEGE_ENTRIES,
  MAX_PRIVILEGE_ENTRIES_PER_NODE,
  type PrivilegeRecord,
} from '../session/types';
import { CAPS_MAPS, DIR_DEPTH, type CapsMapKind } from './caps-program';
import { kindsOfMaps } from './program';
import type { Identity } from './sessions';

/** Linux capability numbers → names (include/uapi/linux/capability.h). */
export const CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;

export const capabilityName = (n: number): string => CAPABILITIES[n] ?? `CAP_${n}`;

/** One observation, attributed to the cgroup it happened in. */
export type PrivilegeEvent = { cgroup: string; count: number } & (
  | { kind: 'check'; cap: number; granted: boolean; onBehalf: boolean; nr: number }
  | { kind: 'cred'; uid: number; gid: number; euid: number; egid: number; capEffective: bigint }
  | { kind: 'setid'; nr: number; args: number[]; result: number }
  | {
      kind: 'exec';
      euid: [number, number];
      egid: [number, number];
      capEffective: [bigint, bigint];
      path: string;
    }
  /** dir: for a relative path, the dentry (as printed) of the directory it is relative to; "0" for none. */
  | { kind: 'write'; nr: number; rootfs: 'yes' | 'no' | 'unknown'; dir: string; path: string }
  /** A directory's name and its parent (dentries as printed), to spell out a relative write's path. */
  | { kind: 'dir'; dentry: string; name?: string; parent?: string }
  | { kind: 'privateRead'; mode: number; uid: number; gid: number; path: string }
);

const KIND_OF_MAP = kindsOfMaps(CAPS_MAPS);

export const isCapsMap = (name: string): boolean => KIND_OF_MAP.has(name);

const INT = /^-?[0-9]+$/;
/** bpftrace prints u64 values as unsigned: 2^64-1 is the -1 a program stored. */
function int(s: string | undefined): number | undefined {
  if (s === undefined || !INT.test(s)) return undefined;
  const b = BigInt(s);
  const v = b >= 2n ** 63n ? b - 2n ** 64n : b;
  return Number(v);
}
const u32 = (s: string | undefined) => {
  const v = int(s);
  return v === undefined || v < 0 || v > 0xffffffff ? undefined : v;
};
const mask = (s: string | undefined) => (s !== undefined && /^[0-9]+$/.test(s) ? BigInt(s) : undefined);
const ROOTFS = ['no', 'yes', 'unknown'] as const;

function event(kind: CapsMapKind, key: string, count: number): PrivilegeEvent | undefined {
  const f = key.split(',');
  const cgroup = f[0];
  if (kind === 'dirParents' || kind === 'dirNames') {
    if (!INT.test(cgroup ?? '')) return undefined;
  } else if (!/^[0-9]+$/.test(cgroup ?? '')) return undefined;
  if (kind === 'checks' && f.length === 5) {
    const [cap, ok, other, nr] = f.slice(1).map(int);
    if (cap === undefined || nr === undefined) return undefined;
    return { kind: 'check', cgroup, count, cap, granted: ok === 1, onBehalf: other === 1, nr };
  }
  if (kind === 'creds' && f.length === 6) {
    const [uid, gid, euid, egid] = f.slice(1, 5).map(u32);
    const capEffective = mask(f[5]);
    if (uid === undefined || gid === undefined || euid === undefined || egid === undefined) return undefined;
    if (capEffective === undefined) return undefined;
    return { kind: 'cred', cgroup, count, uid, gid, euid, egid, capEffective };
  }
  if (kind === 'setids' && f.length === 6) {
    const [nr, a0, a1, a2, result] = f.slice(1).map(int);
    if (nr === undefined || result === undefined) return undefined;
    const args = [a0, a1, a2].filter((a): a is number => a !== undefined && a !== -1);
    return { kind: 'setid', cgroup, count, nr, args, result };
  }
  if (kind === 'execs' && f.length >= 8) {
    const [oeu, eu, oeg, eg] = f.slice(1, 5).map(u32);
    const [ocap, cap] = f.slice(5, 7).map(mask);
    if ([oeu, eu, oeg, eg].some((v) => v === undefined) || ocap === undefined || cap === undefined) {
      return undefined;
    }
    return {
      kind: 'exec',
      cgroup,
      count,
      euid: [oeu as number, eu as number],
      egid: [oeg as number, eg as number],
      capEffective: [ocap, cap],
      path: f.slice(7).join(','),
    };
  }
  if (kind === 'writes' && f.length >= 5) {
    const [nr, root] = f.slice(1, 3).map(int);
    if (nr === undefined || root === undefined || !ROOTFS[root] || !INT.test(f[3])) return undefined;
    return { kind: 'write', cgroup, count, nr, rootfs: ROOTFS[root], dir: f[3], path: f.slice(4).join(',') };
  }
  if (kind === 'dirParents' && f.length === 2 && INT.test(f[1])) {
    return { kind: 'dir', cgroup: '', count, dentry: f[0], parent: f[1] };
  }
  if (kind === 'privateReads' && f.length >= 5) {
    const [mode, uid, gid] = f.slice(1, 4).map(u32);
    if (mode === undefined || uid === undefined || gid === undefined) return undefined;
    return { kind: 'privateRead', cgroup, count, mode, uid, gid, path: f.slice(4).join(',') };
  }
  return undefined;
}

/** The `data` of a `{"type": "map"}` record → privilege events; other maps give none. */
export function privilegesFromMaps(data: Record<string, unknown>): PrivilegeEvent[] {
  const out: PrivilegeEvent[] = [];
  for (const [name, body] of Object.entries(data)) {
    const kind = KIND_OF_MAP.get(name);
    if (!kind || !body || typeof body !== 'object') continue;
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      // A directory name map holds names, every other one counts.
      if (kind === 'dirNames') {
        if (typeof value === 'string' && INT.test(key))
          out.push({ kind: 'dir', cgroup: '', count: 1, dentry: key, name: value });
        continue;
      }
      if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) continue;
      const e = event(kind, key, value);
      if (e) out.push(e);
    }
  }
  return out;
}

/** A syscall number as a name; never a made-up one ("syscall 451" for numbers the table lacks). */
export function syscallLabel(arch: NodeArch, nr: number): string {
  if (nr < 0) return '(none)';
  try {
    return syscallName(arch, nr);
  } catch {
    return `syscall ${nr}`;
  }
}

const hex = (m: bigint) => `0x${m.toString(16)}`;

type Lists = Required<
  Pick<PrivilegeRecord, 'credentials' | 'idChanges' | 'capChecks' | 'execs' | 'writes' | 'privateReads'>
>;
type Entry<K extends keyof Lists> = Lists[K][number];

/** Directories remembered per session; beyond it the table starts over (addresses get reused). */
const MAX_DIRS = 20_000;

const entryId = (e: object) => JSON.stringify({ ...e, count: 0 });

export interface ContainerInfo extends Identity {
  recordedFromStart: boolean;
  mounts: string[];
}

/**
 * Per container instance, what a capabilities session saw on this node. Events wait by cgroup until
 * the container's identity is known (its pod status names it), then merge into its record.
 */
export class PrivilegeTable {
  private readonly pending = new Map<string, PrivilegeEvent[]>();
  private readonly records = new Map<string, PrivilegeRecord>();
  /** Directory names and parents by dentry, for relative writes. */
  private readonly dirs = new Map<string, { name?: string; parent?: string }>();
  /** Entries held across all records: the node's status entry must stay far below etcd's limit. */
  private entries = 0;

  constructor(
    private readonly arch: NodeArch,
    private readonly cap = MAX_PRIVILEGE_ENTRIES,
    private readonly nodeCap = MAX_PRIVILEGE_ENTRIES_PER_NODE,
  ) {}

  /** Takes back what an earlier agent wrote for this node, so a restart keeps its records. */
  seed(previous: Iterable<PrivilegeRecord>): void {
    for (const r of previous) {
      this.records.set(r.containerID, structuredClone(r));
      this.entries +=
        r.credentials.length +
        r.idChanges.length +
        r.capChecks.length +
        r.execs.length +
        r.writes.length +
        (r.privateReads?.length ?? 0);
    }
  }

  /** Adds to a bounded list, merging counts of an equal entry (equal in every field but count). */
  private addTo<K extends keyof Lists>(rec: PrivilegeRecord, list: K, entry: Entry<K>): void {
    const items = (rec[list] ??= []) as Entry<K>[];
    const key = entryId(entry);
    const seen = items.find((e) => entryId(e) === key);
    if (seen) seen.count += entry.count;
    else if (items.length >= this.cap || this.entries >= this.nodeCap) rec.truncated = true;
    else {
      items.push({ ...entry });
      this.entries++;
    }
  }

  add(events: Iterable<PrivilegeEvent>): void {
    for (const e of events) {
      if (e.kind === 'dir') {
        // Kernel addresses are reused once a dentry is freed: a long session forgets old ones.
        if (this.dirs.size >= MAX_DIRS) this.dirs.clear();
        const d = this.dirs.get(e.dentry) ?? {};
        this.dirs.set(e.dentry, {
          ...d,
          ...(e.name !== undefined ? { name: e.name } : {}),
          ...(e.parent ? { parent: e.parent } : {}),
        });
        continue;
      }
      const list = this.pending.get(e.cgroup) ?? [];
      // Bounded while waiting too: a cgroup that never resolves must not grow without end.
      if (list.length < this.cap * 5) list.push(e);
      this.pending.set(e.cgroup, list);
    }
  }

  pendingCgroups(): string[] {
    return [...this.pending.keys()];
  }

  /** Drops what a cgroup that is not a target recorded (a broad prefix armed it). */
  drop(cgroup: string): void {
    this.pending.delete(cgroup);
  }

  /** Whether the container instance has a record (seeded, or settled). */
  has(containerID: string): boolean {
    return this.records.has(containerID);
  }

  settle(cgroup: string, who: ContainerInfo): void {
    const events = this.pending.get(cgroup) ?? [];
    this.pending.delete(cgroup);
    const rec = this.records.get(who.containerID) ?? {
      pod: who.pod,
      podUID: who.podUID,
      ...(who.workload ? { workload: who.workload } : {}),
      container: who.container,
      containerID: who.containerID,
      recordedFromStart: who.recordedFromStart,
      mounts: [...who.mounts].sort(),
      credentials: [],
      idChanges: [],
      capChecks: [],
      execs: [],
      writes: [],
    };
    for (const e of events) this.merge(rec, e);
    this.records.set(who.containerID, rec);
  }

  private merge(rec: PrivilegeRecord, e: PrivilegeEvent): void {
    const { count } = e;
    switch (e.kind) {
      case 'check':
        return this.addTo(rec, 'capChecks', {
          capability: capabilityName(e.cap),
          syscall: syscallLabel(this.arch, e.nr),
          granted: e.granted,
          onBehalf: e.onBehalf,
          count,
        });
      case 'cred':
        return this.addTo(rec, 'credentials', {
          uid: e.uid,
          gid: e.gid,
          euid: e.euid,
          egid: e.egid,
          capEffective: hex(e.capEffective),
          count,
        });
      case 'setid':
        return this.addTo(rec, 'idChanges', {
          syscall: syscallLabel(this.arch, e.nr),
          args: e.args,
          result: e.result,
          count,
        });
      case 'exec':
        return this.addTo(rec, 'execs', {
          path: e.path,
          euid: e.euid,
          egid: e.egid,
          capEffective: [hex(e.capEffective[0]), hex(e.capEffective[1])],
          count,
        });
      case 'write':
        return this.addTo(rec, 'writes', {
          syscall: syscallLabel(this.arch, e.nr),
          path: this.absolute(e.dir, e.path),
          rootfs: e.rootfs,
          count,
        });
      case 'privateRead':
        return this.addTo(rec, 'privateReads', {
          path: e.path,
          mode: `0${e.mode.toString(8)}`,
          uid: e.uid,
          gid: e.gid,
          count,
        });
    }
  }

  /** A relative path made absolute from its directory's names; as given when they do not reach the root. */
  private absolute(dir: string, path: string): string {
    if (dir === '0' || path.startsWith('/')) return path;
    const names: string[] = [];
    let at = dir;
    for (let i = 0; i <= DIR_DEPTH; i++) {
      const d = this.dirs.get(at);
      if (!d?.parent || d.name === undefined) return path;
      if (d.parent === at) return posix.normalize(`/${[...names].reverse().join('/')}/${path}`);
      names.push(d.name);
      at = d.parent;
    }
    return path;
  }

  /** Sorted, so two runs compare cleanly. Copies: the table keeps counting. */
  containers(): PrivilegeRecord[] {
    const byText = <T>(items: T[]) =>
      [...items].sort((a, b) => entryId(a as object).localeCompare(entryId(b as object)));
    return [...this.records.values()]
      .sort((a, b) =>
        `${a.pod}/${a.container}/${a.containerID}`.localeCompare(`${b.pod}/${b.container}/${b.containerID}`),
      )
      .map((r) => structuredClone(r))
      .map((r) => ({
        ...r,
        credentials: byText(r.credentials),
        idChanges: byText(r.idChanges),
        capChecks: byText(r.capChecks),
        execs: byText(r.execs),
        writes: byText(r.writes),
        ...(r.privateReads?.length ? { privateReads: byText(r.privateReads) } : {}),
      }));
  }
}
