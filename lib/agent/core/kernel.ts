/**
 * What the node's kernel offers the agent's programs, probed once at every agent start (a kernel
 * changed under a DaemonSet restart is probed anew): its release, whether it has BTF, which probes
 * can attach (tracepoints by tracefs' events directory, kprobes by the kprobe PMU and the traceable
 * functions, fentry by bpftrace's own feature test and BTF), and the struct members recorders read.
 *
 * A deny-list (HARDEN_AGENT_DENY_PROBES on the DaemonSet, comma-separated probe names as bpftrace
 * spells them, e.g. "tracepoint:capability:cap_capable,kprobe:cap_capable") makes probes count as
 * absent: an operator's way around a probe that misbehaves on their kernel, and the tests' way to
 * prove a recorder's refusal on a kernel that has everything.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Btf } from './btf';
import type { MemberNeed } from './recorder';

export const DENY_ENV = 'HARDEN_AGENT_DENY_PROBES';

/** Where the answers come from; tests point it at a fake tree. */
export interface KernelSources {
  release: string;
  /** Candidate tracefs mounts, the first with an events directory is used. */
  tracefs: readonly string[];
  btf: string;
  /** The kprobe PMU: present when kprobes can be attached through perf (what bpftrace does). */
  kprobePmu: string;
  kallsyms: string;
  /** bpftrace's own fentry test (`bpftrace --info`); undefined when bpftrace could not say. */
  fentry?: boolean;
  deny: readonly string[];
}

export function nodeSources(env: NodeJS.ProcessEnv, fentry: boolean | undefined): KernelSources {
  return {
    release: os.release(),
    tracefs: ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'],
    btf: '/sys/kernel/btf/vmlinux',
    kprobePmu: '/sys/bus/event_source/devices/kprobe',
    kallsyms: '/proc/kallsyms',
    fentry,
    deny: parseDenyList(env[DENY_ENV]),
  };
}

export function parseDenyList(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The kernel as probed; plain data, so it can be published and compared. */
export interface KernelFacts {
  release: string;
  btf: boolean;
  /** Probes asked about → undefined when it can attach, else why not. */
  missing: Record<string, string | undefined>;
  /** "type.member" asked about → whether BTF has it; absent when BTF could not tell. */
  members: Record<string, boolean>;
}

export const memberKey = (m: MemberNeed) => `${m.type}.${m.member}`;

const readable = (file: string) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

const escaped = (name: string) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether `name` is a function the kernel can kprobe (its ftrace list, else its symbol table). */
function traceable(src: KernelSources, tracefs: string | undefined, name: string): boolean | undefined {
  // Lockdown or a restricted tracefs may refuse to list functions: then the symbol table answers.
  const listed = tracefs ? readable(path.join(tracefs, 'available_filter_functions')) : undefined;
  if (listed !== undefined) return new RegExp(`^${escaped(name)}(\\s|$)`, 'm').test(listed);
  const syms = readable(src.kallsyms);
  return syms === undefined ? undefined : new RegExp(` [tT] ${escaped(name)}(\\s|$)`, 'm').test(syms);
}

/** Asks the kernel about exactly these probes and members. Never throws. */
export function probeKernel(
  src: KernelSources,
  probes: Iterable<string>,
  members: Iterable<MemberNeed>,
): KernelFacts {
  const tracefs = src.tracefs.find((d) => fs.existsSync(path.join(d, 'events')));
  let btf: Btf | undefined;
  try {
    btf = new Btf(fs.readFileSync(src.btf));
  } catch {
    btf = undefined;
  }
  const events = (...rel: string[]) =>
    tracefs ? fs.existsSync(path.join(tracefs, 'events', ...rel)) : false;
  const noTracefs = `no tracefs with an events directory at ${src.tracefs.join(' or ')}`;
  const why = (probe: string): string | undefined => {
    if (src.deny.includes(probe)) return `deny-listed by ${DENY_ENV}`;
    const [type, ...rest] = probe.split(':');
    switch (type) {
      case 'BEGIN':
      case 'END':
      case 'interval':
        return undefined;
      case 'tracepoint': {
        if (!tracefs) return noTracefs;
        return events(rest[0], rest[1]) ? undefined : `the kernel has no tracepoint ${rest.join(':')}`;
      }
      case 'rawtracepoint': {
        if (!tracefs) return noTracefs;
        const found = fs
          .readdirSync(path.join(tracefs, 'events'))
          .some((category) => events(category, rest[rest.length - 1]));
        return found ? undefined : `the kernel has no tracepoint named ${rest[rest.length - 1]}`;
      }
      case 'kprobe':
      case 'kretprobe': {
        if (!fs.existsSync(src.kprobePmu)) return `the kernel has no kprobes (no ${src.kprobePmu})`;
        return traceable(src, tracefs, rest[0]) === false
          ? `the kernel cannot kprobe ${rest[0]} (not a traceable function)`
          : undefined;
      }
      case 'fentry':
      case 'fexit':
      case 'kfunc':
      case 'kretfunc': {
        if (src.fentry === false) return 'the kernel has no fentry (bpftrace --info)';
        if (btf && !btf.hasFunction(rest[rest.length - 1]))
          return `BTF has no function ${rest[rest.length - 1]}`;
        return undefined;
      }
      default:
        return undefined;
    }
  };
  const missing: KernelFacts['missing'] = {};
  for (const p of probes) missing[p] = why(p);
  const found: KernelFacts['members'] = {};
  if (btf) for (const m of members) found[memberKey(m)] = btf.members(m.type)?.includes(m.member) ?? false;
  return { release: src.release, btf: btf !== undefined, missing, members: found };
}
