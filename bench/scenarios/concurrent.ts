import type { Scenario, ScenarioReport } from '../harness/report';
import { formatCount, formatDuration, formatMegabytes, formatRatio, median, plural } from '../harness/stats';
import { runWorker } from '../harness/worker';
import type { BenchSizes } from '../settings';
import type { ConcurrentInput, ConcurrentResult } from '../workers/concurrent-run';
import { LANGCHAIN_LABEL } from './shared';

const RSS_LIMIT_BYTES = 300 * 1024 * 1024;

const CONTENDERS = [
  { name: 'callscope (async-local-storage)', worker: 'concurrent-callscope' },
  { name: LANGCHAIN_LABEL, worker: 'concurrent-langchain' },
  { name: 'floor', worker: 'concurrent-floor' },
] as const;

interface Summary {
  readonly name: string;
  readonly wallMs: number;
  readonly roundWallsMs: readonly number[];
  readonly rssBeforeBytes: number;
  readonly peakRssBytes: number;
  readonly maxPeakRssBytes: number;
}

/** concurrent: 10,000 nested-3 runs at once, each with its own handler, each contender in fresh processes. */
export const concurrent: Scenario<BenchSizes> = {
  name: 'concurrent',
  async run(sizes): Promise<ScenarioReport> {
    const { runs, rounds } = sizes.concurrent;
    const results = new Map<string, ConcurrentResult[]>(CONTENDERS.map((contender) => [contender.name, []]));
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? CONTENDERS : [...CONTENDERS].reverse();
      for (const contender of order) {
        const result = await runWorker<ConcurrentResult>(contender.worker, { runs } satisfies ConcurrentInput, ['--expose-gc']);
        if (result.verifiedRuns !== runs) throw new Error(`${contender.name}: only ${result.verifiedRuns} of ${runs} runs got every event.`);
        results.get(contender.name)?.push(result);
      }
    }
    const summaries: Summary[] = CONTENDERS.map(({ name }) => {
      const list = results.get(name) ?? [];
      return {
        name,
        wallMs: median(list.map((result) => result.wallMs)),
        roundWallsMs: list.map((result) => result.wallMs),
        rssBeforeBytes: median(list.map((result) => result.rssBeforeBytes)),
        peakRssBytes: median(list.map((result) => result.peakRssBytes)),
        maxPeakRssBytes: Math.max(...list.map((result) => result.peakRssBytes)),
      };
    });
    const [ours, langchain] = summaries as [Summary, Summary, Summary];
    return {
      name: 'concurrent',
      description: `${formatCount(runs)} nested-3 runs started at once (\`Promise.all\`), each with its own counting handler, every handler verified to hold its 6 events when its run resolved. Each contender runs in a fresh process per round (${plural(rounds, 'round')}, alternating order); medians over rounds. Peak RSS is the process's high-water mark (\`process.resourceUsage().maxRSS\`), including Node, tsx and the library.`,
      tables: [
        {
          headers: ['contender', `wall time (${formatCount(runs)} runs)`, 'per run', 'round wall times', 'RSS before', 'peak RSS', `${LANGCHAIN_LABEL} ÷ this (wall)`],
          rows: summaries.map((summary) => [
            summary.name,
            formatDuration(summary.wallMs),
            formatDuration(summary.wallMs / runs),
            summary.roundWallsMs.map(formatDuration).join(', '),
            formatMegabytes(summary.rssBeforeBytes),
            formatMegabytes(summary.peakRssBytes),
            summary === langchain ? '—' : formatRatio(langchain.wallMs / summary.wallMs),
          ]),
        },
      ],
      targets: [
        {
          target: `concurrent: ${formatCount(runs)} runs complete with peak RSS under 300 MB`,
          observed: `all ${formatCount(runs)} complete; peak RSS ${formatMegabytes(ours.peakRssBytes)} (highest round ${formatMegabytes(ours.maxPeakRssBytes)})`,
          pass: ours.maxPeakRssBytes < RSS_LIMIT_BYTES,
        },
      ],
      notes: ['MB here means MiB (2^20 bytes). The target is checked against the highest peak of all rounds.'],
    };
  },
};
