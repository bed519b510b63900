import { interleave, type Measurement } from '../harness/interleave';
import type { Scenario, ScenarioReport } from '../harness/report';
import { formatDuration, formatRatio } from '../harness/stats';
import { callscopeNestedContender } from '../pipelines/callscope';
import { floorNestedContender } from '../pipelines/floor';
import { langChainNestedContender } from '../pipelines/langchain';
import type { BenchSizes } from '../settings';
import { LANGCHAIN_LABEL, measured, roundSpread } from './shared';

const DEPTH = 20;
const OURS_3 = 'callscope nested-3';
const OURS_20 = `callscope deep-${DEPTH}`;
const LANGCHAIN_20 = `${LANGCHAIN_LABEL} deep-${DEPTH}`;
const FLOOR_20 = `floor deep-${DEPTH}`;

/** deep-20: how cost grows with depth; it must be linear, a constant cost per level. */
export const deep20: Scenario<BenchSizes> = {
  name: 'deep-20',
  onOneCpu: true,
  async run(sizes): Promise<ScenarioReport> {
    const mode = 'async-local-storage';
    const results = await interleave(
      [
        await callscopeNestedContender({ depth: 3, mode, opsPerSample: sizes.opsPerSample.nested3, name: OURS_3 }),
        await callscopeNestedContender({ depth: DEPTH, mode, opsPerSample: sizes.opsPerSample.deep20, name: OURS_20 }),
        await langChainNestedContender(DEPTH, sizes.opsPerSample.deep20, LANGCHAIN_20),
        await floorNestedContender(DEPTH, sizes.opsPerSample.deep20, FLOOR_20),
      ],
      sizes.micro,
    );
    const ours3 = measured(results, OURS_3);
    const ours20 = measured(results, OURS_20);
    const perLevel3 = ours3.medianMs / 3;
    const perLevel20 = ours20.medianMs / DEPTH;
    const ratio = perLevel20 / perLevel3;
    // What one more level costs, from the difference between the two depths: the fixed cost of a
    // top-level invoke cancels out.
    const marginal = (ours20.medianMs - ours3.medianMs) / (DEPTH - 3);
    const row = (measurement: Measurement, levels: number): string[] => [
      measurement.name,
      String(levels),
      formatDuration(measurement.medianMs),
      roundSpread(measurement),
      formatDuration(measurement.medianMs / levels),
    ];
    return {
      name: 'deep-20',
      description: `A chain of ${DEPTH} nested async lambdas, each invoking the next without config, one counting handler at the top (verified: ${2 * DEPTH} events per invoke), against callscope's nested-3 in the same rounds. Default propagation mode.`,
      tables: [
        {
          headers: ['contender', 'levels', 'median / invoke', 'round medians', 'per level'],
          rows: [
            row(ours3, 3),
            row(ours20, DEPTH),
            row(measured(results, LANGCHAIN_20), DEPTH),
            row(measured(results, FLOOR_20), DEPTH),
          ],
        },
        {
          headers: ['callscope', 'value'],
          rows: [
            [`per level, deep-${DEPTH} (total ÷ ${DEPTH})`, formatDuration(perLevel20)],
            ['per level, nested-3 (total ÷ 3)', formatDuration(perLevel3)],
            [`ratio deep-${DEPTH} ÷ nested-3 per level`, formatRatio(ratio)],
            [`marginal cost of a level ((deep-${DEPTH} − nested-3) ÷ ${DEPTH - 3})`, formatDuration(marginal)],
          ],
        },
      ],
      targets: [
        {
          target: `deep-${DEPTH}: per-level cost within 10% of nested-3's per-level cost`,
          observed: `${formatRatio(ratio)} (${formatDuration(perLevel20)} vs ${formatDuration(perLevel3)} per level)`,
          pass: ratio <= 1.1,
        },
      ],
      notes: [
        `The target guards against cost growing faster than depth, so it passes when deep-${DEPTH}'s per-level cost is at most 1.10× nested-3's. A ratio below 1 means the fixed cost of a top-level invoke (validating its config, the handler set) is spread over more levels; the marginal cost row removes that fixed cost.`,
      ],
    };
  },
};
