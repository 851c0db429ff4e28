import type { Kube } from '../kube/client';
import type { BaseArgs, ConnectionArgs } from './flags';
import { invocationOf } from './invocation';
import { useColour } from './colour';

/** Where a command writes: results to stdout, progress and diagnostics to stderr. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** A progress line that rewrites itself on a terminal and prints plainly otherwise. */
  progress(text: string): void;
  /** Ends a progress line, if one is showing. */
  done(): void;
  colour: boolean;
  verbosity: number;
}

/** A signal the next Ctrl-C (SIGINT) or SIGTERM aborts; dispose() stops listening. */
export interface Interrupt {
  signal: AbortSignal;
  dispose(): void;
}

/** What a run function works with, injected so that tests can fake the cluster, the terminal and Ctrl-C. */
export interface Deps {
  kube: Kube;
  io: Io;
  interrupt(): Interrupt;
}

/** How commands obtain their collaborators; tests pass fakes. */
export interface Runtime {
  connect(flags: ConnectionArgs): Promise<Kube>;
  io(flags: BaseArgs): Io;
  interrupt(): Interrupt;
}

export function processIo(flags: BaseArgs): Io {
  // A dumb terminal cannot rewrite a line (\x1b[K): it gets plain lines, as a pipe does.
  const tty = Boolean(process.stderr.isTTY) && process.env.TERM !== 'dumb';
  let showing = false;
  let last = '';
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => {
      if (showing) process.stderr.write('\n');
      showing = false;
      process.stderr.write(t.endsWith('\n') ? t : t + '\n');
    },
    progress: (t) => {
      if (tty) {
        process.stderr.write(`\r\x1b[K${t}`);
        showing = true;
      } else if (t !== last) {
        process.stderr.write(t + '\n');
      }
      last = t;
    },
    done: () => {
      if (showing) process.stderr.write('\n');
      showing = false;
    },
    colour: useColour(process.stdout),
    verbosity: flags.v ?? 0,
  };
}

export function processInterrupt(): Interrupt {
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

export const processRuntime: Runtime = {
  connect: async (flags) => {
    const { Kube } = await import('../kube/client');
    return Kube.connect(flags);
  },
  io: processIo,
  interrupt: processInterrupt,
};

/** The runtime main() was given, or the process's own. */
export const runtimeOf = (argv: BaseArgs): Runtime => invocationOf(argv).runtime ?? processRuntime;

/** Connects (after the command line was checked) and hands a run function what it needs. */
export async function collaborators(argv: ConnectionArgs): Promise<Deps> {
  const rt = runtimeOf(argv);
  const io = rt.io(argv);
  return { kube: await rt.connect(argv), io, interrupt: rt.interrupt };
}

/**
 * `kubectl harden ... | head`: once the reader is gone, stop quietly (exit 0) instead of dying on
 * EPIPE with a stack trace; what it wanted, it got.
 */
export function exitQuietlyOnEpipe(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(0);
  });
}
