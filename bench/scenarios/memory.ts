import type { Scenario, ScenarioReport } from '../harness/report';
import { formatCount, formatDuration, formatMegabytes } from '../harness/stats';
import { runWorker } from '../harness/worker';
import type { BenchSizes } from '../settings';
import type { MemoryInput, MemoryResult } from '../workers/memory';

const GROWTH_LIMIT_BYTES = 2 * 1024 * 1024;

/**
 * memory: heap used after forced GC must not grow over a million sequential nested-3 invokes, plain, and
 * with a long-lived parent signal plus a per-run `timeout` on each.
 */
export const memory: Scenario<BenchSizes> = {
  name: 'memory',
  async run(sizes): Promise<ScenarioReport> {
    const { invokes, warmup } = sizes.memory;
    const plain = await runWorker<MemoryResult>('memory', { invokes, warmup } satisfies MemoryInput, ['--expose-gc']);
    const signals = await runWorker<MemoryResult>('memory', { invokes, warmup, signals: true } satisfies MemoryInput, ['--expose-gc']);
    const cases = [
      { label: 'plain', config: '`{ callbacks: [handler] }`', result: plain },
      { label: 'signal + timeout', config: '`{ callbacks: [handler], signal: longLived.signal, timeout: 60_000 }`', result: signals },
    ].map((entry) => {
      const start = entry.result.checkpoints[0];
      const end = entry.result.checkpoints.at(-1);
      if (start === undefined || end === undefined) throw new Error('The memory worker reported no checkpoints.');
      return { ...entry, start, growth: end.heapUsedBytes - start.heapUsedBytes };
    });
    return {
      name: 'memory',
      description: `${formatCount(invokes)} sequential nested-3 invokes with one counting handler (callscope, default mode) in a fresh process started with \`--expose-gc\`, after ${formatCount(warmup)} warm-up invokes, twice: with ${cases.map((entry) => `${entry.config} (${entry.label})`).join(', and with ')}, one signal for the whole process. \`heapUsed\` is read after forced collections at the start and at each checkpoint.`,
      tables: cases.map((entry) => ({
        caption: entry.label,
        headers: ['after invokes', 'heapUsed after GC', 'growth since start'],
        rows: entry.result.checkpoints.map((checkpoint) => [
          formatCount(checkpoint.invokes),
          formatMegabytes(checkpoint.heapUsedBytes),
          formatMegabytes(checkpoint.heapUsedBytes - entry.start.heapUsedBytes, { signed: true }),
        ]),
      })),
      targets: cases.map((entry) => ({
        target: `memory (${entry.label}): no growth beyond 2 MB over ${formatCount(invokes)} invokes`,
        observed: formatMegabytes(entry.growth, { signed: true }),
        pass: entry.growth < GROWTH_LIMIT_BYTES,
      })),
      notes: cases.map(
        (entry) =>
          `${entry.label}: ${formatCount(invokes)} invokes took ${formatDuration(entry.result.elapsedMs)} (${formatDuration(entry.result.elapsedMs / invokes)} each, including the checkpoints' collections). The count can be changed with BENCH_MEMORY_INVOKES.`,
      ),
    };
  },
};
