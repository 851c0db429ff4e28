/**
 * bpftrace program parts for seccomp sessions: when each target cgroup starts recording, and the
 * set of (cgroup, syscall number) pairs it makes, printed and cleared every interval. Pure: the
 * same targets give the same text.
 */
import {
  EV_EXEC,
  EV_FILTER,
  EV_FULL,
  MAP_KEYS_MAX,
  mayRecord,
  IS_STOP_SIGNAL,
  SEED_TESTS_MAX,
  NOT_PID_NS_INIT,
  PARENT_OUTSIDE_CGROUP,
  PID_NS_INIT,
  rawSyscallProbe,
  RUNTIME_SELF_EXEC,
  type ProgramPart,
  type ProgramTargets,
} from '../../core/program';
import type { Dialect } from '../../core/dialect';

/** The two set maps, flipped per interval: the one this recorder owns and parses. */
export const SYSCALL_MAPS = ['@sc0', '@sc1'] as const;
/**
 * [cgroup, what, value] of each container's life, flipped with the sets: what is LIFE_STOP_SIGNAL (a
 * stop signal one of its processes handled), LIFE_EXEC_IN (a process exec'd into it from outside) or
 * LIFE_EXIT (its entrypoint exited; value: its exit status).
 */
export const SYSCALL_LIFE_MAPS = ['@sl0', '@sl1'] as const;
export const LIFE_STOP_SIGNAL = 1;
export const LIFE_EXEC_IN = 2;
export const LIFE_EXIT = 3;

/**
 * @rec's values: a cgroup recording every task's syscalls, or only those of tasks under a seccomp
 * filter. A container whose filter was installed at its start runs every process of its own under
 * it (children inherit it, exec keeps it); a task there without one is the runtime's, starting a
 * process exec'd into the container (an exec probe, kubectl exec) before it installs that
 * process's filter, and no profile applies to what it does until then.
 */
const REC_ALL = 1;
const REC_FILTERED = 2;
/** The current task runs under a seccomp filter (SECCOMP_MODE_FILTER). */
const UNDER_FILTER = 'curtask->seccomp.mode == 2';

/** `@sl<phase>[key]++`. */
const lifeInto = (key: string) => `if (@phase) { @sl1[${key}]++; } else { @sl0[${key}]++; }`;

/**
 * The target cgroups' lifecycle (the core's part arms them into @targets); @rec holds those
 * recording. A newly armed cgroup starts recording at its first exec (the entrypoint; what runc
 * does before, in the same cgroup, is not the workload's) or when a seccomp filter is installed in
 * it (then what the runtime does between the filter and the exec belongs to the profile too).
 */
export function recordingPart(t: ProgramTargets): ProgramPart {
  const begin: string[] = [];
  for (const s of t.seeds)
    if (s.recording) begin.push(`@rec[(uint64)${s.id}] = ${s.filtered ? REC_FILTERED : REC_ALL};`);
  const probes = [
    // The cgroup's first exec is its entrypoint's (@rent marks it, for its exit). A later one by a
    // task whose parent is outside the container, neither the entrypoint nor exec'd before, is a
    // process the runtime exec'd into it (an exec probe, kubectl exec). The runtime's exec of itself
    // is neither.
    [
      `tracepoint:sched:sched_process_exec /@targets[cgroup] && !(${RUNTIME_SELF_EXEC})/ {`,
      `  $c = cgroup;`,
      `  if (!@rec[$c]) {`,
      `    @rec[$c] = ${REC_ALL}; @rent[pid] = 1;`,
      `    printf("${EV_EXEC} %llu\\n", $c);`,
      `  } else {`,
      `    if (${PARENT_OUTSIDE_CGROUP}) {`,
      `      if (!@rent[pid] && !@rxd[pid] && ${NOT_PID_NS_INIT}) { @rxd[pid] = 1; ${lifeInto(`$c, ${LIFE_EXEC_IN}, 0`)} }`,
      `    }`,
      `  }`,
      `}`,
    ].join('\n'),
    // Thread exits are many: the predicate is the one lookup, the rest only for a process's end.
    [
      `tracepoint:sched:sched_process_exit /@rec[cgroup]/ {`,
      `  if (tid == pid) {`,
      // The entrypoint: marked at its exec, or (running before this program, e.g. after a program
      // switch) its pid namespace's init. Read before the exit releases the namespaces.
      `    $e = @rent[pid] ? 1 : 0;`,
      `    if (${PID_NS_INIT}) { $e = 1; }`,
      `    if ($e) { $c = cgroup; $x = (int64)curtask->exit_code; ${lifeInto(`$c, ${LIFE_EXIT}, $x`)} }`,
      `    if (@rent[pid]) { delete(@rent[pid]); }`,
      `    if (@rxd[pid]) { delete(@rxd[pid]); }`,
      `  }`,
      `}`,
    ].join('\n'),
    // Delivered, so handled: a stop signal with the default action kills without being delivered (and a
    // container's pid 1 ignores it), which the entrypoint's exit status then shows.
    [
      `tracepoint:signal:signal_deliver /@rec[cgroup]/ {`,
      `  if (${IS_STOP_SIGNAL}) { $c = cgroup; ${lifeInto(`$c, ${LIFE_STOP_SIGNAL}, 0`)} }`,
      `}`,
    ].join('\n'),
    // At exit, a filter is in place iff the call succeeded and the task is in filter mode (2);
    // libseccomp's probing calls (invalid arguments) fail and are not taken for the install.
    // libseccomp loads with seccomp(2) or, as runc 1.1's build does, prctl(PR_SET_SECCOMP).
    ...['seccomp', 'prctl'].map((call) => filterInstalled(call)),
  ];
  return { begin, probes, end: ['clear(@rec); clear(@rent); clear(@rxd);'] };
}

function filterInstalled(call: string): string {
  return [
    `tracepoint:syscalls:sys_exit_${call} /@targets[cgroup] && !@rec[cgroup]/ {`,
    `  if (args->ret == 0) {`,
    `    if (${UNDER_FILTER}) {`,
    // The task installing the filter in a new container is its init: the entrypoint-to-be.
    `      @rec[cgroup] = ${REC_FILTERED}; @rent[pid] = 1;`,
    `      $c = cgroup; $n = (int64)args->__syscall_nr;`,
    `      ${scInsert('$c', '$n')}`,
    `      printf("${EV_FILTER} %llu\\n", $c);`,
    `    }`,
    `  }`,
    `}`,
  ].join('\n');
}

/**
 * Set insert into the map of the current phase; a lookup first, so repeats cost no update. New
 * pairs are counted per phase: more than the map holds means some were dropped (a full BPF hash
 * map refuses the update; 0.17 says nothing, and 0.23's error per refused update floods the output
 * buffer until it loses events). Once the count says full, no more updates are tried.
 */
function scInsert(cg: string, nr: string): string {
  const into = (m: string, n: string) =>
    `if (!${m}[${cg}, ${nr}]) { if (${n} < ${MAP_KEYS_MAX}) { ${m}[${cg}, ${nr}] = 1; } ${n}++; }`;
  return `if (@phase) { ${into('@sc1', '@scn1')} } else { ${into('@sc0', '@scn0')} }`;
}

const overflowed = (count: string) => `${count} > ${MAP_KEYS_MAX}`;
const sayFull = `printf("${EV_FULL} syscalls\\n");`;

/** After the idle phase's map is printed: says whether it overflowed, and restarts its count. */
const overflowCheck = (count: string) => `if (${overflowed(count)}) { ${sayFull} } ${count} = 0;`;

/**
 * Syscall numbers per recording cgroup. Two maps, flipped each interval: the idle one is printed
 * and cleared while writers use the other, so a pair first seen during the print is never lost.
 *
 * This probe runs on every syscall of the node, so it does the least it can: for a cgroup the
 * program can never record (older than its start and not seeded), a comparison or a few; for
 * another not recording, one map lookup; for one recording, @phase and the set too (an update only the first
 * time a pair is seen in an interval; 0.23.2 keeps the keyless @phase in a hash map as well, and
 * has no map declarations to make it an array), and in one recorded under its filter, the task's
 * seccomp mode. With 0.23 the cgroup id is read once (0.17's text
 * is unchanged, as tested on its kernels).
 */
export function syscallPart(t: ProgramTargets, dialect: Dialect): ProgramPart {
  const flip = [
    '@phase = 1 - @phase;',
    `if (@phase) { print(@sc0); clear(@sc0); ${overflowCheck('@scn0')} print(@sl0); clear(@sl0); } ` +
      `else { print(@sc1); clear(@sc1); ${overflowCheck('@scn1')} print(@sl1); clear(@sl1); }`,
  ];
  return {
    begin: ['@phase = 0;'],
    probes: [sysEnter(t, dialect)],
    interval: flip,
    end: [
      'print(@sc0); print(@sc1); clear(@sc0); clear(@sc1);',
      'print(@sl0); print(@sl1); clear(@sl0); clear(@sl1);',
      // Either phase, unprinted until now, may have overflowed too.
      `if (${overflowed('@scn0')} || ${overflowed('@scn1')}) { ${sayFull} }`,
      'clear(@scn0); clear(@scn1);',
    ],
  };
}

function sysEnter(t: ProgramTargets, dialect: Dialect): string {
  const { head, value } = rawSyscallProbe(dialect, 'sys_enter');
  const insert = [`$n = (int64)${value};`, scInsert('$c', '$n')];
  const indent = (lines: string[]) => lines.map((l) => `  ${l}`);
  // 0.17 (not the agent image's bpftrace) keeps the text tested on its kernels.
  if (dialect.syscalls === 'tracepoint')
    return [
      `${head} /@rec[cgroup]/ {`,
      `  $c = cgroup;`,
      `  if (@rec[$c] == ${REC_ALL} || ${UNDER_FILTER}) {`,
      ...indent(indent(insert)),
      `  }`,
      `}`,
    ].join('\n');
  const record = [
    `$r = @rec[$c];`,
    `if ($r == ${REC_ALL} || ($r == ${REC_FILTERED} && ${UNDER_FILTER})) {`,
    ...indent(insert),
    `}`,
  ];
  // Seeds recording every task from the start keep @rec at REC_ALL for the program's life (it is
  // only ever set where unset): compared by id, they skip the lookup; the rest as mayRecord says.
  const all = t.seeds.length <= SEED_TESTS_MAX ? t.seeds.filter((s) => s.recording && !s.filtered) : [];
  const may = mayRecord({ ...t, seeds: t.seeds.filter((s) => !all.includes(s)) }, '$c');
  let body = record;
  if (may && all.length)
    body = [
      `if (${all.map((s) => `$c == ${s.id}`).join(' || ')}) {`,
      ...indent(insert),
      `} else if (${may}) {`,
      ...indent(record),
      `}`,
    ];
  else if (may) body = [`if (${may}) {`, ...indent(record), `}`];
  return [`${head} {`, `  $c = cgroup;`, ...indent(body), `}`].join('\n');
}
