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
  type ProgramPart,
  type ProgramTargets,
} from '../../core/program';

/** The two set maps, flipped per interval: the one this recorder owns and parses. */
export const SYSCALL_MAPS = ['@sc0', '@sc1'] as const;

/**
 * The target cgroups' lifecycle (the core's part arms them into @targets); @rec holds those
 * recording. A newly armed cgroup starts recording at its first exec (the entrypoint; what runc
 * does before, in the same cgroup, is not the workload's) or when a seccomp filter is installed in
 * it (then what the runtime does between the filter and the exec belongs to the profile too).
 */
export function recordingPart(t: ProgramTargets): ProgramPart {
  const begin: string[] = [];
  for (const s of t.seeds) if (s.recording) begin.push(`@rec[(uint64)${s.id}] = 1;`);
  const probes = [
    [
      `tracepoint:sched:sched_process_exec /@targets[cgroup] && !@rec[cgroup]/ {`,
      `  @rec[cgroup] = 1;`,
      `  printf("${EV_EXEC} %llu\\n", cgroup);`,
      `}`,
    ].join('\n'),
    // At exit, a filter is in place iff the call succeeded and the task is in filter mode (2);
    // libseccomp's probing calls (invalid arguments) fail and are not taken for the install.
    // libseccomp loads with seccomp(2) or, as runc 1.1's build does, prctl(PR_SET_SECCOMP).
    ...['seccomp', 'prctl'].map((call) => filterInstalled(call)),
  ];
  return { begin, probes, end: ['clear(@rec);'] };
}

function filterInstalled(call: string): string {
  return [
    `tracepoint:syscalls:sys_exit_${call} /@targets[cgroup] && !@rec[cgroup]/ {`,
    `  if (args->ret == 0) {`,
    `    if (curtask->seccomp.mode == 2) {`,
    `      @rec[cgroup] = 1;`,
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
 */
export function syscallPart(): ProgramPart {
  const flip = [
    '@phase = 1 - @phase;',
    `if (@phase) { print(@sc0); clear(@sc0); ${overflowCheck('@scn0')} } ` +
      `else { print(@sc1); clear(@sc1); ${overflowCheck('@scn1')} }`,
  ];
  return {
    begin: ['@phase = 0;'],
    probes: [
      [
        `tracepoint:raw_syscalls:sys_enter /@rec[cgroup]/ {`,
        `  $c = cgroup; $n = (int64)args->id;`,
        `  ${scInsert('$c', '$n')}`,
        `}`,
      ].join('\n'),
    ],
    interval: flip,
    end: [
      'print(@sc0); print(@sc1); clear(@sc0); clear(@sc1);',
      // Either phase, unprinted until now, may have overflowed too.
      `if (${overflowed('@scn0')} || ${overflowed('@scn1')}) { ${sayFull} }`,
      'clear(@scn0); clear(@scn1);',
    ],
  };
}
