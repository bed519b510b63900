/** The body shared by the concurrent workers, one per contender so that each process loads only its own library. */

/** What the parent passes. */
export interface ConcurrentInput {
  readonly runs: number;
}

/** What a concurrent worker reports. */
export interface ConcurrentResult {
  /** Wall time of the `Promise.all` over every run, in milliseconds. */
  readonly wallMs: number;
  /** Resident set size just before the runs started (library loaded, warmed up), in bytes. */
  readonly rssBeforeBytes: number;
  /** Peak resident set size of the whole process, in bytes (`process.resourceUsage().maxRSS`). */
  readonly peakRssBytes: number;
  /** Runs whose handler received the expected number of events. */
  readonly verifiedRuns: number;
}

/** One contender's workload: a nested-3 invoke reporting to the given handler. */
export interface ConcurrentWorkload<THandler extends { readonly events: number }> {
  readonly createHandler: () => THandler;
  readonly invoke: (handler: THandler) => Promise<unknown>;
  /** Events each run's handler must receive. */
  readonly events: number;
}

const WARMUP_RUNS = 200;

/**
 * Starts `runs` runs at once, each with its own handler, and waits for all of them. The peak RSS is the
 * kernel's high-water mark for this fresh process: sampling `rss` from a timer would miss it, because the
 * runs complete in microtasks without yielding to timers.
 *
 * @throws {Error} when a handler did not receive every event by the time its run resolved.
 */
export async function measureConcurrent<THandler extends { readonly events: number }>(
  { runs }: ConcurrentInput,
  workload: ConcurrentWorkload<THandler>,
): Promise<ConcurrentResult> {
  for (let i = 0; i < WARMUP_RUNS; i++) {
    const handler = workload.createHandler();
    await workload.invoke(handler);
    if (handler.events !== workload.events) throw new Error(`Warm-up run ${i}: expected ${workload.events} events, got ${handler.events}.`);
  }
  globalThis.gc?.();
  const handlers = Array.from({ length: runs }, workload.createHandler);
  const rssBeforeBytes = process.memoryUsage().rss;
  const started = performance.now();
  await Promise.all(
    handlers.map(async (handler) => {
      await workload.invoke(handler);
      // Checked as each run resolves: events delivered later would not count.
      if (handler.events !== workload.events) throw new Error(`Expected ${workload.events} events when the run resolved, got ${handler.events}.`);
    }),
  );
  const wallMs = performance.now() - started;
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  return { wallMs, rssBeforeBytes, peakRssBytes, verifiedRuns: handlers.filter((handler) => handler.events === workload.events).length };
}
