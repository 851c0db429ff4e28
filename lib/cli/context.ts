import type { GlobalFlags } from './flags';
import { useColour } from './output';

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

export function processIo(flags: GlobalFlags): Io {
  const tty = Boolean(process.stderr.isTTY);
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
