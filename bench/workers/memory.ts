/**
 * memory: sequential nested-3 invokes in a fresh process started with --expose-gc. Heap used after a
 * forced collection is read after the warm-up and at checkpoints; anything a run leaves behind shows as
 * growth that no collection removes. With `signals`, every invoke also gets a long-lived parent signal and
 * its own `timeout` (Node 20's `AbortSignal.any` would leave an entry per run on that signal).
 */
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { CountingHandler, nestedChain } from '../pipelines/callscope';
import { runAsWorker } from '../harness/worker';

/** What the parent passes. */
export interface MemoryInput {
  readonly invokes: number;
  readonly warmup: number;
  /** Give every invoke a long-lived parent signal and a per-run `timeout`. */
  readonly signals?: boolean;
}

/** Heap used after a forced collection, after `invokes` measured invokes. */
export interface HeapCheckpoint {
  readonly invokes: number;
  readonly heapUsedBytes: number;
}

/** What the worker reports. */
export interface MemoryResult {
  readonly checkpoints: readonly HeapCheckpoint[];
  readonly elapsedMs: number;
}

const CHECKPOINTS = 4;

/** Heap used once every collectable object is gone: collect, let finalizers and timers run, collect again. */
async function settledHeapUsed(): Promise<number> {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('The memory worker needs node --expose-gc.');
  for (let i = 0; i < 3; i++) {
    gc();
    await nextMacrotask();
  }
  return process.memoryUsage().heapUsed;
}

async function main({ invokes, warmup, signals = false }: MemoryInput): Promise<MemoryResult> {
  const chain = nestedChain(3, 'context');
  const handler = new CountingHandler();
  // One signal for the whole process, as a server's shutdown signal would be.
  const longLived = new AbortController();
  const config = signals ? { callbacks: [handler], signal: longLived.signal, timeout: 60_000 } : { callbacks: [handler] };
  for (let i = 0; i < warmup; i++) await chain.invoke(i, config);
  const checkpoints: HeapCheckpoint[] = [{ invokes: 0, heapUsedBytes: await settledHeapUsed() }];
  const started = performance.now();
  let done = 0;
  for (let checkpoint = 1; checkpoint <= CHECKPOINTS; checkpoint++) {
    const until = Math.round((invokes * checkpoint) / CHECKPOINTS);
    for (; done < until; done++) await chain.invoke(done, config);
    checkpoints.push({ invokes: done, heapUsedBytes: await settledHeapUsed() });
  }
  const elapsedMs = performance.now() - started;
  const expected = 6 * (warmup + invokes);
  if (handler.events !== expected) throw new Error(`Expected ${expected} events, got ${handler.events}.`);
  return { checkpoints, elapsedMs };
}

runAsWorker(main);
