/**
 * bpftrace program text for a set of target cgroups. Pure: the same targets and bpftrace dialect
 * give the same text.
 *
 * A program is composed of parts (the target cgroups here, the recorders' in ../recorders, put
 * together by ./assemble), each contributing BEGIN lines, probes, interval lines and END lines.
 * Lifecycle events (a cgroup armed, its first exec, a filter installed) are rare, so they are
 * printf'ed at once; per-event data never leaves the kernel except as per-interval sets.
 */

import type { Dialect } from './dialect';

/** bpftrace 0.17 refuses string literals over 63 characters, so prefixes are compared in chunks. */
export const LITERAL_MAX = 63;
/**
 * Entries per map. bpftrace preallocates every hash map at this size, charged to the agent pod's
 * memory: at 65536 the capabilities program's maps took 288 MiB on a 2-CPU node and two programs
 * at a switch broke the agent's 512 MiB limit ("Unknown BPF object load failure"). Sets are
 * printed and cleared every interval, so this bounds what one interval may add, per map.
 */
export const MAP_KEYS_MAX = 16384;

/** The line BEGIN prints once every probe is attached and the maps are seeded. */
export const READY = 'harden:ready';
export const EV_ARMED = 'harden:armed';
export const EV_EXEC = 'harden:exec';
/**
 * Whether the current task is its pid namespace's init: in a container with its own pid namespace,
 * its entrypoint, also when it ran before the program did (its exec not seen). Read before an
 * exit releases the task's namespaces (trace_sched_process_exit comes first).
 */
export const PID_NS_INIT = '(uint64)curtask->nsproxy->pid_ns_for_children->child_reaper == (uint64)curtask';
/**
 * Signals a container is stopped with: SIGTERM, or the image's STOPSIGNAL (nginx SIGQUIT, httpd
 * SIGWINCH, some SIGINT or SIGHUP). The agent cannot see the image's choice: any of them, sent
 * with kill() (si_code SI_USER, 0), counts as a stop.
 */
export const STOP_SIGNALS = [1, 2, 3, 15, 28] as const;
/** A bpftrace condition: the delivered signal (signal:signal_deliver's args) is a stop signal sent with kill(). */
export const IS_STOP_SIGNAL = `args->code == 0 && (${STOP_SIGNALS.map((n) => `args->sig == ${n}`).join(' || ')})`;
export const NOT_PID_NS_INIT =
  '(uint64)curtask->nsproxy->pid_ns_for_children->child_reaper != (uint64)curtask';
/**
 * The current task's parent is outside its cgroup: the runtime started it (runc, then the shim), as
 * it starts the entrypoint and every process exec'd into the container; a workload's threads and
 * children have their parent inside. Pointers compared, not cgroup ids: bpftrace 0.17 cannot read
 * kernfs_node.id.
 */
export const PARENT_OUTSIDE_CGROUP =
  '(uint64)curtask->real_parent->cgroups->dfl_cgrp != (uint64)curtask->cgroups->dfl_cgrp';
/**
 * At an exec in a target cgroup: the task is a container runtime executing itself again, not a
 * program of the container. runc 1.1's init copies its own binary into a memfd and execs it first
 * thing, before it enters the container's namespaces, and runc may have moved it into the
 * container's cgroup by then. Its parent (runc, outside the cgroup) shares its mount namespace; the
 * entrypoint and a process exec'd into the container exec in the container's own mount namespace,
 * which nothing outside shares.
 */
export const RUNTIME_SELF_EXEC = `${PARENT_OUTSIDE_CGROUP} && (uint64)curtask->real_parent->nsproxy->mnt_ns == (uint64)curtask->nsproxy->mnt_ns`;
export const EV_FILTER = 'harden:filter';
/** A set map took more new pairs in one interval than it holds: the rest were dropped in the kernel. */
export const EV_FULL = 'harden:full';
/**
 * The last line of every interval's print: once it is read, so is every set printed before it (maps
 * and printf share one output stream, in order), also when every set was empty and printed nothing.
 */
export const EV_TICK = 'harden:tick';

export interface CgroupSeed {
  /** cgroup id (decimal u64). */
  id: string;
  /** Recording at once (a running container, or one whose exec/filter was already seen); else armed, waiting for it. */
  recording: boolean;
  /**
   * A seccomp filter was seen installed at its start: its processes run under it, and one without
   * is the runtime's, starting a process exec'd into it.
   */
  filtered?: boolean;
}

export interface ProgramTargets {
  seeds: CgroupSeed[];
  /** Anything else the program text depends on (session kinds, pod IPs): a change needs a new program. */
  extra?: string[];
  /** Hierarchy paths of target pods' cgroup directories, with a trailing slash; new cgroups below are armed. */
  podPrefixes: string[];
  /**
   * Every cgroup made after the program starts has a larger id (cgroup2 ids are kernfs node ids,
   * allocated in increasing order): the newest id the agent finds under the node's pods as it starts
   * the program. With the seeds, it bounds what may ever record, so probes on every syscall pass
   * over the rest without a map lookup. The text reads it as a positional parameter (NEWER_THAN),
   * so it changes no text; no coverage depends on it.
   */
  newerThan?: string;
}

/** A pod prefix under one a program arms by (the node's, for an open session) is armed by it too. */
export function underAny(prefix: string, prefixes: Iterable<string>): boolean {
  for (const p of prefixes) if (prefix.startsWith(p)) return true;
  return false;
}

export interface ProgramPart {
  begin?: string[];
  probes?: string[];
  interval?: string[];
  end?: string[];
}

/** The probes parts attach, as bpftrace spells them ("tracepoint:sched:sched_process_exec"). */
export function probesOf(parts: readonly ProgramPart[]): string[] {
  const heads = parts.flatMap((p) => p.probes ?? []).map((text) => text.split(/[\s{]/, 1)[0]);
  return [...new Set(heads.flatMap((h) => h.split(',')))];
}

export interface Program {
  text: string;
  env: Record<string, string>;
  /** bpftrace's positional parameters, after the program file. */
  args: string[];
}

/**
 * Where the current task's user registers are saved (see Dialect.userRegs), for parts composed
 * with a dialect that has it: `$1` is the offset, which composeProgram passes as the first
 * positional parameter, so the text does not change with the node's kernel.
 */
export const USER_REGS = '((struct pt_regs *)((uint64)curtask->stack + $1))';
/** ProgramTargets.newerThan, bpftrace's second positional parameter. */
const NEWER_THAN = '$2';

const ID = /^[0-9]+$/;

/** Seeds a probe on every syscall compares one by one; more are taken as a range from the oldest. */
export const SEED_TESTS_MAX = 16;

/**
 * A bpftrace condition on cgroup id `c`: false only for cgroups this program can never record
 * (neither seeded nor made after it started), so that they skip the map lookups. Undefined
 * without `newerThan`: then any cgroup may.
 */
export function mayRecord(t: ProgramTargets, c: string): string | undefined {
  if (t.newerThan === undefined) return undefined;
  const ids = t.seeds.map((s) => s.id);
  if (!ids.every((id) => ID.test(id))) throw new Error(`invalid cgroup id in ${JSON.stringify(ids)}`);
  const tests = [`${c} > ${NEWER_THAN}`];
  if (t.seeds.length > SEED_TESTS_MAX) {
    const oldest = ids.map(BigInt).reduce((a, b) => (b < a ? b : a));
    tests.push(`${c} >= ${oldest}`);
  } else tests.push(...ids.map((id) => `${c} == ${id}`));
  return tests.join(' || ');
}

const SAFE_PATH = /^[A-Za-z0-9._:@/-]+$/;

/** strncmp against the path at growing offsets: one literal of at most LITERAL_MAX per test. */
function headTests(path: string, head: string): string[] {
  const tests: string[] = [];
  for (let off = 0; off < head.length; off += LITERAL_MAX) {
    const chunk = head.slice(off, off + LITERAL_MAX);
    const ptr = off === 0 ? path : `${path} + ${off}`;
    tests.push(`strncmp(str(${ptr}, ${chunk.length + 1}), "${chunk}", ${chunk.length}) == 0`);
  }
  return tests;
}

/**
 * The cgroup_mkdir probe: where it attaches, the predicate that keeps only the cgroup2 hierarchy
 * (root/hierarchy id 0; v1 hierarchies have ids from 1), and how it reads the new cgroup's id and
 * hierarchy path.
 */
function mkdirProbe(dialect: Dialect): { attach: string; cgroup2: string; id: string; path: string } {
  if (dialect.cgroupMkdir === 'tracepoint') {
    return {
      attach: 'tracepoint:cgroup:cgroup_mkdir',
      cgroup2: 'args->root == 0',
      id: 'args->id',
      path: 'args->path',
    };
  }
  // TP_PROTO(struct cgroup *cgrp, const char *path); the id is the cgroup directory's inode number.
  return {
    attach: 'rawtracepoint:cgroup_mkdir',
    cgroup2: '((struct cgroup *)arg0)->root->hierarchy_id == 0',
    id: '((struct cgroup *)arg0)->kn->id',
    path: 'arg1',
  };
}

/**
 * The probe on every syscall's entry or exit, and what reads its value there: the syscall number
 * at sys_enter, the return value at sys_exit. Both attachments run in the calling task; the raw
 * tracepoint's program gets the value as its second argument (TP_PROTO(struct pt_regs *regs, long
 * id|ret)), without the tracepoint's copy of every argument first.
 */
export function rawSyscallProbe(
  dialect: Dialect,
  point: 'sys_enter' | 'sys_exit',
): { head: string; value: string } {
  if (dialect.syscalls === 'rawtracepoint') return { head: `rawtracepoint:${point}`, value: 'arg1' };
  return {
    head: `tracepoint:raw_syscalls:${point}`,
    value: point === 'sys_enter' ? 'args->id' : 'args->ret',
  };
}

/**
 * The target cgroups: seeded ones, and new ones under a target pod's prefix, armed as they are
 * made. @targets holds every cgroup of interest.
 *
 * A prefix is split into its last LITERAL_MAX characters (its tail, where the pod's UID is) and the
 * head before them. Prefixes of one length and head are the keys of one map, tested by one probe:
 * the head compared, then the path's tail looked up. A node's prefixes come in a few such groups
 * (one per QoS class and cgroup driver), so the program does not grow with the pods; a probe per
 * prefix did, and from 33 prefixes on bpftrace 0.23 exceeded the BPF stack limit. Keys are one
 * string, and the armed cgroup is printed by a probe of its own, because 0.17 keeps every string
 * and string key on the stack at its full length.
 */
export function targetCgroupsPart(t: ProgramTargets, dialect: Dialect): ProgramPart {
  const begin: string[] = [];
  for (const s of t.seeds) {
    if (!ID.test(s.id)) throw new Error(`invalid cgroup id ${JSON.stringify(s.id)}`);
    begin.push(`@targets[(uint64)${s.id}] = 1;`);
  }
  const groups = new Map<string, { map: string; head: string; tail: number }>();
  for (const prefix of t.podPrefixes) {
    if (!SAFE_PATH.test(prefix) || !prefix.startsWith('/') || !prefix.endsWith('/')) {
      throw new Error(`invalid pod cgroup prefix ${JSON.stringify(prefix)}`);
    }
    const cut = Math.max(0, prefix.length - LITERAL_MAX);
    const head = prefix.slice(0, cut);
    const group = `${prefix.length} ${head}`;
    if (!groups.has(group)) {
      groups.set(group, { map: `@pfx${prefix.length}_${groups.size}`, head, tail: prefix.length - cut });
    }
    begin.push(`${groups.get(group)?.map}["${prefix.slice(cut)}"] = 1;`);
  }
  const m = mkdirProbe(dialect);
  const arm = [...groups.values()].map(({ map, head, tail }) => {
    const key = `str(${head ? `${m.path} + ${head.length}` : m.path}, ${tail + (dialect.strLength === 'bytes' ? 1 : 0)})`;
    const test = [...headTests(m.path, head), `${map}[${key}]`].join(' && ');
    // The id is read first: 0.17 reads it from the context pointer that `args->path + n` moved.
    return [
      `${m.attach} /${m.cgroup2}/ {`,
      `  $id = ${m.id};`,
      `  if (${test}) { @targets[$id] = 1; }`,
      `}`,
    ].join('\n');
  });
  // Attached after the probes that arm, so it runs after them on the same mkdir.
  const print = [
    `${m.attach} /${m.cgroup2} && @targets[${m.id}]/ {`,
    `  printf("${EV_ARMED} %llu %s\\n", ${m.id}, str(${m.path}));`,
    `}`,
  ].join('\n');
  const end = [...[...groups.values()].map((g) => `clear(${g.map});`), 'clear(@targets);'];
  return { begin, probes: arm.length ? [...arm, print] : [], end };
}

/**
 * Count maps kept in pairs, flipped per interval like the syscall sets: the idle one of each pair is
 * printed and cleared while writers use the other, so an entry first seen during the print is kept.
 */
export function flippedMaps<K extends string>(phase: string, pairs: Record<K, readonly [string, string]>) {
  const printClear = (maps: readonly string[]) => maps.map((m) => `print(${m}); clear(${m});`).join(' ');
  const side = (n: 0 | 1) => Object.values<readonly [string, string]>(pairs).map((pair) => pair[n]);
  return {
    /**
     * `@m<phase>[key]++` into the map of the current phase. A plain hash, not count()'s per-CPU
     * one: bpftrace preallocates every map at max_map_keys, and a per-CPU map of 232-byte keys
     * takes 21 MiB per CPU; the rare lost increment of two CPUs racing costs only a count.
     */
    countInto: (kind: K, key: string): string => {
      const [m0, m1] = pairs[kind];
      return `if (${phase}) { ${m1}[${key}]++; } else { ${m0}[${key}]++; }`;
    },
    interval: [
      `${phase} = 1 - ${phase};`,
      `if (${phase}) { ${printClear(side(0))} } else { ${printClear(side(1))} }`,
    ],
    /** Prints and clears every map; the phase variable is the caller's to clear. */
    end: printClear(Object.values<readonly [string, string]>(pairs).flat()),
  };
}

/** Map name → its kind, for reading printed pairs back (e.g. "@tcpe1" → "tcpEgress"). */
export function kindsOfMaps<K extends string>(pairs: Record<K, readonly string[]>): Map<string, K> {
  return new Map(
    (Object.entries(pairs) as [K, readonly string[]][]).flatMap(([k, names]) =>
      names.map((n) => [n, k] as [string, K]),
    ),
  );
}

/**
 * The program as bpftrace runs it: the parts in their blocks, and the string and map limits set
 * the way this bpftrace takes them (0.23 warns about the environment variables, 0.17 cannot parse
 * a config block).
 */
export function composeProgram(
  parts: ProgramPart[],
  intervalMs: number,
  dialect: Dialect,
  newerThan?: string,
): Program {
  if (!Number.isInteger(intervalMs) || intervalMs < 100) throw new Error(`invalid interval ${intervalMs}ms`);
  const all = <K extends keyof ProgramPart>(k: K): string[] => parts.flatMap((p) => p[k] ?? []);
  const block = (head: string, lines: string[]): string =>
    `${head} {\n${lines.map((l) => `  ${l}`).join('\n')}\n}`;
  const text = [
    block('BEGIN', [...all('begin'), `printf("${READY}\\n");`]),
    ...all('probes'),
    block(`interval:ms:${intervalMs}`, [...all('interval'), `printf("${EV_TICK}\\n");`]),
    block('END', all('end')),
    '',
  ].join('\n\n');
  if (newerThan !== undefined && !ID.test(newerThan))
    throw new Error(`invalid cgroup id ${JSON.stringify(newerThan)}`);
  // Positional: $1 the user registers' place, $2 the newest cgroup id (0 and unread when absent).
  const userRegs = dialect.userRegs === undefined ? [] : [String(dialect.userRegs)];
  const args = newerThan === undefined ? userRegs : [userRegs[0] ?? '0', newerThan];
  if (dialect.settings === 'config') {
    const config = block('config =', [
      `max_strlen = ${dialect.maxStrlen};`,
      `max_map_keys = ${MAP_KEYS_MAX};`,
    ]);
    return { text: `${config}\n\n${text}`, env: {}, args };
  }
  return {
    text,
    env: { BPFTRACE_STRLEN: String(dialect.maxStrlen), BPFTRACE_MAP_KEYS_MAX: String(MAP_KEYS_MAX) },
    args,
  };
}
