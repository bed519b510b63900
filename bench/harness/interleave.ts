import type { Bench } from 'tinybench' with { 'resolution-mode': 'import' };
import type { RoundBudget } from '../settings';
import { median } from './stats';

/** One implementation under comparison. */
export interface Contender {
  /** Row label, such as `callscope (async-local-storage)`. */
  readonly name: string;
  /** One sample's work: `opsPerSample` operations, run one after another. */
  readonly sample: () => Promise<unknown>;
  /** Operations per sample; times are reported per operation. @default 1 */
  readonly opsPerSample?: number;
  /** Runs before each of the contender's turns (warm-up included), e.g. to select a propagation mode. */
  readonly before?: () => void;
  /** Overrides the budget's minimum samples per round, for contenders whose one sample takes seconds. */
  readonly minSamples?: number;
}

/** What the rounds measured for one contender, per operation. */
export interface Measurement {
  readonly name: string;
  /** Median over every sample of every round, in milliseconds per operation. */
  readonly medianMs: number;
  /** The median of each round, in milliseconds per operation, in round order. */
  readonly roundMediansMs: readonly number[];
  /** Samples taken over all rounds. */
  readonly samples: number;
}

/** A function running `op` `count` times in sequence: one sample of `count` operations. */
export function repeat(count: number, op: () => Promise<unknown>): () => Promise<void> {
  return async () => {
    for (let i = 0; i < count; i++) await op();
  };
}

// tinybench is ESM-only; this CommonJS project loads it with import() (Node 20.20 could require() it,
// but TypeScript's node16 mode does not know that).
let benchClass: Promise<typeof Bench> | undefined;
function loadBench(): Promise<typeof Bench> {
  benchClass ??= import('tinybench').then((module) => module.Bench);
  return benchClass;
}

/**
 * Times the contenders in the same process, interleaved: each round gives every contender one turn with
 * tinybench, in the opposite order to the round before, so that drift (JIT tiers, GC pressure, a noisy
 * neighbour) hits all of them alike. Samples of all rounds are pooled for the median.
 *
 * @throws whatever a contender throws: a benchmark that fails must not report a time.
 */
export async function interleave(contenders: readonly Contender[], budget: RoundBudget): Promise<Map<string, Measurement>> {
  const BenchClass = await loadBench();
  const pooled = new Map<string, number[]>(contenders.map((contender) => [contender.name, []]));
  const roundMedians = new Map<string, number[]>(contenders.map((contender) => [contender.name, []]));
  for (let round = 0; round < budget.rounds; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const contender of order) {
      const perOp = await timeTurn(BenchClass, contender, budget);
      pooled.get(contender.name)?.push(...perOp);
      roundMedians.get(contender.name)?.push(median(perOp));
    }
  }
  return new Map(
    contenders.map((contender) => {
      const samples = pooled.get(contender.name) ?? [];
      return [
        contender.name,
        { name: contender.name, medianMs: median(samples), roundMediansMs: roundMedians.get(contender.name) ?? [], samples: samples.length },
      ];
    }),
  );
}

/** One turn of one contender: its samples, in milliseconds per operation. */
async function timeTurn(BenchClass: typeof Bench, contender: Contender, budget: RoundBudget): Promise<number[]> {
  // A collection now, between turns, rather than during the next contender's samples.
  globalThis.gc?.();
  const bench = new BenchClass({
    time: budget.timeMs,
    iterations: contender.minSamples ?? budget.minSamples,
    warmup: budget.warmupMs > 0,
    warmupTime: budget.warmupMs,
    warmupIterations: 1,
    retainSamples: true,
    throws: true,
    timestampProvider: 'hrtimeNow',
  });
  bench.add(contender.name, contender.sample, { async: true, beforeAll: () => contender.before?.() });
  const [task] = await bench.run();
  const result = task?.result;
  if (result === undefined || (result.state !== 'completed' && result.state !== 'aborted-with-statistics')) {
    throw new Error(`tinybench did not complete "${contender.name}": state ${result?.state ?? 'missing'}.`);
  }
  const samples = result.latency.samples;
  if (samples === undefined) throw new Error(`tinybench kept no samples for "${contender.name}".`);
  const opsPerSample = contender.opsPerSample ?? 1;
  return samples.map((ms) => ms / opsPerSample);
}
