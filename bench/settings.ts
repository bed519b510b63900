/**
 * How big each scenario is. The full sizes are what `npm run bench` records in RESULTS.md; the smoke sizes
 * only prove, in seconds, that every scenario still runs and verifies its event counts (CI runs them).
 */

/** Timing budget of one contender in one round of an interleaved comparison. */
export interface RoundBudget {
  /** Rounds; contenders alternate order from one round to the next. */
  readonly rounds: number;
  /** Time tinybench keeps sampling one contender per round, in milliseconds. */
  readonly timeMs: number;
  /** Minimum samples per contender per round, whatever the time. */
  readonly minSamples: number;
  /** Warm-up time per contender per round, in milliseconds (0 disables tinybench's warm-up). */
  readonly warmupMs: number;
}

/** Every size the suite reads. */
export interface BenchSizes {
  /** Budget of the micro-benchmarks: nested-3, no-handler, deep-20, fan-out. */
  readonly micro: RoundBudget;
  /** Budget of the tokens scenario, where one sample streams the whole response. */
  readonly tokens: RoundBudget;
  /** Invokes per sample, so that each sample is long enough to time precisely. */
  readonly opsPerSample: {
    readonly nested3: number;
    readonly noHandler: number;
    readonly deep20: number;
  };
  /** Inputs of the `batch` part of fan-out. */
  readonly batchInputs: number;
  /** Tokens in the streamed response. */
  readonly tokenCount: number;
  /** Samples per round of each SDK client contender of the traceable scenario (one is a whole HTTP stream). */
  readonly clientStreamSamples: number;
  /** Concurrent nested-3 runs, and how many fresh processes per contender. */
  readonly concurrent: { readonly runs: number; readonly rounds: number };
  /** Sequential invokes measured for heap growth, after `warmup` invokes. */
  readonly memory: { readonly invokes: number; readonly warmup: number };
  /** Fresh processes timing the import. */
  readonly importRounds: number;
  /** The http scenario: autocannon load per variant, by time (or by request count in smoke mode). */
  readonly http: {
    /** Rounds, each with fresh server processes. */
    readonly rounds: number;
    /** Paired measurements per round: each variant of a pair loaded for `durationSeconds`, back to back. */
    readonly windows: number;
    readonly connections: number;
    readonly durationSeconds: number;
    /** When set, each measurement sends this many requests instead of running for `durationSeconds`. */
    readonly amount: number | undefined;
  };
  /** Runs in the JSONL file the viewer opens, and how many fresh pages open it. */
  readonly viewer: { readonly runs: number; readonly rounds: number };
}

const FULL: BenchSizes = {
  micro: { rounds: 5, timeMs: 250, minSamples: 5, warmupMs: 50 },
  tokens: { rounds: 3, timeMs: 0, minSamples: 3, warmupMs: 0 },
  opsPerSample: { nested3: 20, noHandler: 50, deep20: 4 },
  batchInputs: 1_000,
  tokenCount: 100_000,
  clientStreamSamples: 10,
  concurrent: { runs: 10_000, rounds: 3 },
  memory: { invokes: 1_000_000, warmup: 20_000 },
  importRounds: 31,
  // 10 rounds of 4 windows: paired window ratios on this machine spread from about 0.65× to 1.3×, and the median
  // of 24 moved by up to a tenth between full runs (Express 0.939× then 0.856×, where the code's own cost had
  // not grown: measured side by side, the later code was the faster); 40 narrow that by about a quarter.
  http: { rounds: 10, windows: 4, connections: 50, durationSeconds: 1, amount: undefined },
  viewer: { runs: 100_000, rounds: 3 },
};

const SMOKE: BenchSizes = {
  micro: { rounds: 1, timeMs: 1, minSamples: 1, warmupMs: 0 },
  tokens: { rounds: 1, timeMs: 0, minSamples: 1, warmupMs: 0 },
  opsPerSample: { nested3: 2, noHandler: 2, deep20: 1 },
  batchInputs: 30,
  tokenCount: 1_000,
  clientStreamSamples: 1,
  concurrent: { runs: 100, rounds: 1 },
  memory: { invokes: 2_000, warmup: 200 },
  importRounds: 1,
  http: { rounds: 1, windows: 1, connections: 5, durationSeconds: 1, amount: 50 },
  viewer: { runs: 1_000, rounds: 1 },
};

/** What the command line and environment asked for. */
export interface BenchSettings {
  /** Tiny counts, no RESULTS.md: `--smoke` or `BENCH_SMOKE=1`. */
  readonly smoke: boolean;
  /** Scenario names given as arguments; empty means all. */
  readonly only: readonly string[];
  readonly sizes: BenchSizes;
}

/**
 * Reads `--smoke` / `BENCH_SMOKE=1`, scenario names, and `BENCH_MEMORY_INVOKES` (overrides the memory
 * scenario's count, e.g. to check a leak quickly).
 *
 * @throws {Error} when `BENCH_MEMORY_INVOKES` is not a positive whole number.
 */
export function readSettings(argv: readonly string[], env: NodeJS.ProcessEnv): BenchSettings {
  const smoke = argv.includes('--smoke') || (env.BENCH_SMOKE !== undefined && env.BENCH_SMOKE !== '' && env.BENCH_SMOKE !== '0');
  const only = argv.filter((arg) => !arg.startsWith('--'));
  let sizes = smoke ? SMOKE : FULL;
  const memoryInvokes = env.BENCH_MEMORY_INVOKES;
  if (memoryInvokes !== undefined && memoryInvokes !== '') {
    const invokes = Number(memoryInvokes);
    if (!Number.isInteger(invokes) || invokes < 1) {
      throw new Error(`Expected BENCH_MEMORY_INVOKES to be a whole number of at least 1, got ${JSON.stringify(memoryInvokes)}.`);
    }
    sizes = { ...sizes, memory: { invokes, warmup: Math.min(sizes.memory.warmup, invokes) } };
  }
  return { smoke, only, sizes };
}
