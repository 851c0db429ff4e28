// The one way tests wait for the world: poll a probe until a condition holds, instead of sleeping
// a fixed time before an assertion (too short: flaky; long enough: slow).

export interface EventuallyOptions {
  /** Give up after this long (measured with a monotonic clock). Default 20 s. */
  withinMs?: number;
  /** Pause between probes. Default 250 ms. */
  everyMs?: number;
  /** Name what is awaited: on timeout, throw an error saying so and showing the last value. */
  what?: string;
}

/**
 * Probes until `done(value)` holds, and returns the last value. Without `what` a timeout returns
 * the last value too, so the caller's expect() shows what was seen (or proves something stayed false).
 */
export async function eventually<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  opts: EventuallyOptions = {},
): Promise<T> {
  const started = process.hrtime.bigint();
  const elapsedMs = () => Number(process.hrtime.bigint() - started) / 1e6;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (elapsedMs() >= (opts.withinMs ?? 20_000)) {
      if (opts.what)
        throw new Error(
          `${opts.what}: not within ${opts.withinMs ?? 20_000} ms; last seen ${JSON.stringify(value)}`,
        );
      return value;
    }
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 250));
  }
}
