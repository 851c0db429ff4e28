/**
 * What the kernel matrix's host hands its guest (plan.json in the initramfs) and what the guest
 * reports back on its second serial port: one line per record, `KM <base64 of gzipped JSON>`
 * (a serial port carries bytes, kernel messages may interleave on the first one, and bpftrace's
 * output for a program can be long). Pure.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { KernelFacts } from '../../lib/agent/core/kernel';
import type { MemberNeed } from '../../lib/agent/core/recorder';

/** What the workload (./workload.ts) does, which the cells check the recorders saw. */
export const POD_IP = '127.0.0.2';
export const TCP_PORT = 80;
export const UDP_PORT = 5353;
export const CHOWN_UID = 1000;
export const CHOWN_PATH = '/tmp/matrix-chown';
export const EXEC_PATH = '/usr/bin/true';

export interface GuestProgram {
  /** "<session kind>/<route>" */
  id: string;
  text: string;
  env: Record<string, string>;
  /** The workload's container cgroup, relative to the cgroup2 mount (made once bpftrace is ready). */
  cgroupDir: string;
}

export interface GuestPlan {
  /** What the agent asks its kernel about (kernelNeeds of every recorder). */
  needs: { probes: string[]; members: MemberNeed[] };
  programs: GuestProgram[];
  /** Seconds bpftrace may take to compile, load and attach before the program counts as failed. */
  readyTimeoutS: number;
}

export interface FactsRecord {
  type: 'facts';
  /** `bpftrace --version` */
  bpftrace: string;
  fentry?: boolean;
  /** Dialect.userRegs as probeBpftrace measured it in the guest. */
  userRegs?: number;
  facts: KernelFacts;
  /** The guest's /proc/uptime when the runner started (boot time under emulation). */
  uptimeS: number;
}

export interface ProgramRecord {
  type: 'program';
  id: string;
  /** BEGIN printed the ready line: compiled, verified, every probe attached. */
  ready: boolean;
  /** bpftrace start → ready (or → giving up). */
  loadS: number;
  /** How bpftrace ended: "exit 0", "signal SIGINT", "timeout" (no ready line in time), … */
  exit: string;
  timedOut: boolean;
  stdout: string[];
  stderr: string;
  /** The workload's container cgroup id (its directory's inode), when it was made. */
  cgroupId?: string;
  /** Its hierarchy path, as cgroup_mkdir reports it. */
  cgroupPath: string;
  workload?: { code: number | null; output: string };
}

export interface DoneRecord {
  type: 'done';
  uptimeS: number;
}

export type GuestRecord = FactsRecord | ProgramRecord | DoneRecord;

const TAG = 'KM ';

export function encodeRecord(r: GuestRecord): string {
  return `${TAG}${gzipSync(JSON.stringify(r)).toString('base64')}\n`;
}

/** The records in a serial log; lines that are not records (or were cut off) are skipped. */
export function decodeRecords(text: string): GuestRecord[] {
  const out: GuestRecord[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r/g, '').trim();
    if (!line.startsWith(TAG)) continue;
    try {
      out.push(
        JSON.parse(gunzipSync(Buffer.from(line.slice(TAG.length), 'base64')).toString()) as GuestRecord,
      );
    } catch {
      // A record the VM did not finish writing.
    }
  }
  return out;
}
