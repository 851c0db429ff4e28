import { HardenError, INTERRUPTED } from '../errors';

export interface Poll<T> {
  done: boolean;
  /** The progress line to show while waiting (e.g. "agents ready 2/3"). */
  progress: string;
  value?: T;
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
  /** Builds the error when time runs out, from the last poll. */
  onTimeout: (last: Poll<unknown> | undefined) => HardenError;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const onAbort = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal?.removeEventListener('abort', onAbort), resolve()), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Polls until done, showing progress; the deadline is a duration, never a wall-clock time. */
export async function waitUntil<T>(check: () => Promise<Poll<T>>, opts: WaitOptions): Promise<T | undefined> {
  const started = process.hrtime.bigint();
  const elapsedMs = () => Number(process.hrtime.bigint() - started) / 1e6;
  let last: Poll<T> | undefined;
  for (;;) {
    if (opts.signal?.aborted) throw new HardenError('interrupted', undefined, INTERRUPTED);
    last = await check();
    opts.onProgress?.(last.progress);
    if (last.done) return last.value;
    if (elapsedMs() >= opts.timeoutMs) throw opts.onTimeout(last);
    await sleep(Math.min(opts.intervalMs ?? 1000, Math.max(50, opts.timeoutMs - elapsedMs())), opts.signal);
  }
}
