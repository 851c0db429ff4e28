/**
 * One bpftrace child process: started with a program, ready once BEGIN has run (every probe is
 * attached by then), stopped with SIGINT so END prints the last sets (SIGKILL after a grace time).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineSplitter } from '../../lines';
import { BpftraceError } from './bpftrace-error';
import { isNoise, type TraceEvent } from './output';
import type { Program } from './program';
import { AGENT_ATTACH_TIMEOUT_MS } from '../../session/timeouts';

export interface BpftraceOptions {
  /** The bpftrace executable (default: "bpftrace" on PATH). */
  binary?: string;
  /** Reads an output line into events (see ./output: the recorders' maps are theirs to read). */
  parse: (line: string) => TraceEvent[];
  /** How long to wait for BEGIN (bpftrace compiles and attaches first). */
  readyTimeoutMs?: number;
}

/**
 * If the agent itself dies (kill -9, OOM), its bpftrace must not go on tracing for nobody: setpriv
 * (util-linux, in every Debian image) execs bpftrace with a parent-death signal set.
 */
const PDEATHSIG = fs.existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--'] : [];

/**
 * The agent's environment minus its allocator (the image preloads jemalloc into node): bpftrace
 * and the LLVM it compiles with keep the allocator they are built and tested with.
 */
export function bpftraceEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'LD_PRELOAD' && k !== 'MALLOC_CONF'));
}

let seq = 0;

export class BpftraceRun {
  readonly id = ++seq;
  private child?: ChildProcess;
  private stderrTail: string[] = [];
  private file?: string;
  private exitPromise?: Promise<void>;
  private readyFlag = false;
  exited = false;

  constructor(
    readonly program: Program,
    private readonly onEvent: (e: TraceEvent, run: BpftraceRun) => void,
    private readonly opts: BpftraceOptions,
  ) {}

  get ready(): boolean {
    return this.readyFlag;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** stderr without bpftrace's harmless warnings, for conditions and logs. */
  get stderr(): string {
    return this.stderrTail.filter((l) => !isNoise(l)).join('\n');
  }

  /** Resolves when BEGIN has printed the ready marker; rejects with stderr if bpftrace fails first. */
  start(): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harden-bpftrace-'));
    this.file = path.join(dir, 'program.bt');
    fs.writeFileSync(this.file, this.program.text);
    const [cmd, ...args] = [
      ...PDEATHSIG,
      this.opts.binary ?? 'bpftrace',
      '-f',
      'json',
      this.file,
      ...this.program.args,
    ];
    const child = spawn(cmd, args, {
      env: { ...bpftraceEnv(process.env), ...this.program.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const out = new LineSplitter();
    const err = new LineSplitter();
    const deliver = (line: string) => {
      for (const e of this.opts.parse(line)) {
        if (e.kind === 'ready') this.readyFlag = true;
        this.onEvent(e, this);
      }
    };
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => out.push(c).forEach(deliver));
    child.stderr!.on('data', (c: string) => {
      this.stderrTail.push(...err.push(c));
      if (this.stderrTail.length > 50) this.stderrTail.splice(0, this.stderrTail.length - 50);
    });
    this.exitPromise = new Promise((resolve) => {
      child.once('close', () => {
        out.flush().forEach(deliver);
        this.stderrTail.push(...err.flush());
        this.exited = true;
        this.cleanup();
        resolve();
      });
    });
    return new Promise((resolve, reject) => {
      const timeoutMs = this.opts.readyTimeoutMs ?? AGENT_ATTACH_TIMEOUT_MS;
      const fail = (why: string) => {
        clearTimeout(timer);
        clearInterval(poll);
        reject(new BpftraceError(`bpftrace ${why}${this.stderr ? `: ${this.stderr}` : ''}`, this.stderr));
      };
      const timer = setTimeout(() => {
        fail(`did not attach within ${timeoutMs} ms`);
        void this.stop();
      }, timeoutMs);
      child.once('error', (e) => fail(`could not be started (${e.message})`));
      void this.exitPromise!.then(() => {
        if (!this.readyFlag) fail(`exited with ${child.exitCode ?? child.signalCode} before attaching`);
      });
      const poll = setInterval(() => {
        if (this.readyFlag) {
          clearTimeout(timer);
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
  }

  /** SIGINT (END runs and prints the last sets), SIGKILL after `graceMs`. Resolves when gone. */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.child;
    if (!child || this.exited) return;
    child.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (!this.exited) child.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exitPromise, killed]);
    clearTimeout(timer);
    await this.exitPromise;
  }

  /** Resolves when the process has ended, however it ended. */
  wait(): Promise<void> {
    return this.exitPromise ?? Promise.resolve();
  }

  private cleanup(): void {
    if (this.file) fs.rmSync(path.dirname(this.file), { recursive: true, force: true });
  }
}
