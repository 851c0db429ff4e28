/**
 * Capabilities-session output of bpftrace `-f json` → privilege observations (merged per container
 * by ./record). Pure.
 *
 * Each map prints as one line, tuple keys joined by ","; a path is always the last field, so a
 * comma inside it survives:
 *   {"type": "map", "data": {"@capc0": {"4756,10,1,0,49": 1}}}
 *   {"type": "map", "data": {"@wr1": {"4756,257,1,/var/run/nginx.pid": 1}}}
 */
import { syscallName, type NodeArch } from '../../../seccomp/names';
import { kindsOfMaps } from '../../core/program';
import { CAPS_MAPS, LIFE_EXEC_IN, LIFE_EXIT, LIFE_STOP_SIGNAL, type CapsMapKind } from './program';

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

/**
 * One observation, attributed to the cgroup it happened in; a directory's name is of no one cgroup
 * (it serves every relative write below it).
 */
export type PrivilegeEvent =
  | { kind: 'dir'; cgroup?: undefined; count: number; dentry: string; name?: string; parent?: string }
  | CgroupEvent;

/** runtime: made by the runtime starting a process exec'd into the container, before its exec. */
type CgroupEvent = { cgroup: string; count: number } & (
  | { kind: 'check'; cap: number; granted: boolean; onBehalf: boolean; nr: number; runtime: boolean }
  | {
      kind: 'cred';
      uid: number;
      gid: number;
      euid: number;
      egid: number;
      capEffective: bigint;
      runtime: boolean;
    }
  | { kind: 'setid'; nr: number; args: number[]; result: number; runtime: boolean }
  | {
      kind: 'exec';
      euid: [number, number];
      egid: [number, number];
      capEffective: [bigint, bigint];
      path: string;
    }
  /** dir: for a relative path, the dentry (as printed) of the directory it is relative to; "0" for none. */
  | { kind: 'write'; nr: number; rootfs: 'yes' | 'no' | 'unknown'; dir: string; path: string }
  | { kind: 'privateRead'; mode: number; uid: number; gid: number; path: string }
  /** A successful bind of a port below 1024, and its network namespace's ip_unprivileged_port_start. */
  | { kind: 'lowBind'; port: number; portStart: number; root: boolean }
  /** The ip_unprivileged_port_start of the network namespace an exec ran in. */
  | { kind: 'portStart'; portStart: number }
  /** The container's life: a SIGTERM handled, a process exec'd into it, its entrypoint's exit status. */
  | { kind: 'life'; what: 'stopSignal' | 'execIn' | 'exit'; value: number }
);

const KIND_OF_MAP = kindsOfMaps(CAPS_MAPS);

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
  if (kind === 'checks' && f.length === 6) {
    const [cap, ok, other, nr, rt] = f.slice(1).map(int);
    if (cap === undefined || nr === undefined) return undefined;
    const runtime = rt === 1;
    return { kind: 'check', cgroup, count, cap, granted: ok === 1, onBehalf: other === 1, nr, runtime };
  }
  if (kind === 'creds' && f.length === 7) {
    const [uid, gid, euid, egid] = f.slice(1, 5).map(u32);
    const capEffective = mask(f[5]);
    const runtime = f[6] === '1';
    if (uid === undefined || gid === undefined || euid === undefined || egid === undefined) return undefined;
    if (capEffective === undefined) return undefined;
    return { kind: 'cred', cgroup, count, uid, gid, euid, egid, capEffective, runtime };
  }
  if (kind === 'setids' && f.length === 7) {
    const [nr, a0, a1, a2, result, rt] = f.slice(1).map(int);
    if (nr === undefined || result === undefined) return undefined;
    const args = [a0, a1, a2].filter((a): a is number => a !== undefined && a !== -1);
    return { kind: 'setid', cgroup, count, nr, args, result, runtime: rt === 1 };
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
    return { kind: 'dir', count, dentry: f[0], parent: f[1] };
  }
  if (kind === 'lowBinds' && f.length === 4) {
    const [port, portStart, root] = f.slice(1).map(int);
    if (port === undefined || portStart === undefined || port <= 0 || port >= 1024) return undefined;
    return { kind: 'lowBind', cgroup, count, port, portStart, root: root === 1 };
  }
  if (kind === 'portStart' && f.length === 2) {
    const portStart = int(f[1]);
    if (portStart === undefined) return undefined;
    return { kind: 'portStart', cgroup, count, portStart };
  }
  if (kind === 'life' && f.length === 3) {
    const [what, value] = f.slice(1).map(int);
    const name =
      what === LIFE_STOP_SIGNAL
        ? 'stopSignal'
        : what === LIFE_EXEC_IN
          ? 'execIn'
          : what === LIFE_EXIT
            ? 'exit'
            : undefined;
    if (!name || value === undefined) return undefined;
    return { kind: 'life', cgroup, count, what: name, value };
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
          out.push({ kind: 'dir', count: 1, dentry: key, name: value });
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
