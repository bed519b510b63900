import type { Scenario, ScenarioReport } from '../harness/report';
import { formatCount, formatDuration, formatMegabytes } from '../harness/stats';
import { runWorker } from '../harness/worker';
import type { BenchSizes } from '../settings';
import type { MemoryInput, MemoryResult } from '../workers/memory';

const GROWTH_LIMIT_BYTES = 2 * 1024 * 1024;

/** memory: heap used after forced GC must not grow over a million sequential nested-3 invokes. */
export const memory: Scenario<BenchSizes> = {
  name: 'memory',
  async run(sizes): Promise<ScenarioReport> {
    const { invokes, warmup } = sizes.memory;
    const result = await runWorker<MemoryResult>('memory', { invokes, warmup } satisfies MemoryInput, ['--expose-gc']);
    const start = result.checkpoints[0];
    const end = result.checkpoints.at(-1);
    if (start === undefined || end === undefined) throw new Error('The memory worker reported no checkpoints.');
    const growth = end.heapUsedBytes - start.heapUsedBytes;
    return {
      name: 'memory',
      description: `${formatCount(invokes)} sequential nested-3 invokes with one counting handler (callscope, default mode) in a fresh process started with \`--expose-gc\`, after ${formatCount(warmup)} warm-up invokes. \`heapUsed\` is read after forced collections at the start and at each checkpoint.`,
      tables: [
        {
          headers: ['after invokes', 'heapUsed after GC', 'growth since start'],
          rows: result.checkpoints.map((checkpoint) => [
            formatCount(checkpoint.invokes),
            formatMegabytes(checkpoint.heapUsedBytes),
            formatMegabytes(checkpoint.heapUsedBytes - start.heapUsedBytes, { signed: true }),
          ]),
        },
      ],
      targets: [
        {
          target: `memory: no growth beyond 2 MB over ${formatCount(invokes)} invokes`,
          observed: formatMegabytes(growth, { signed: true }),
          pass: growth < GROWTH_LIMIT_BYTES,
        },
      ],
      notes: [
        `${formatCount(invokes)} invokes took ${formatDuration(result.elapsedMs)} (${formatDuration(result.elapsedMs / invokes)} each, including the checkpoints' collections). The count can be changed with BENCH_MEMORY_INVOKES.`,
      ],
    };
  },
};
