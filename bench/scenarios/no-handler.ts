import { interleave, repeat } from '../harness/interleave';
import type { Scenario, ScenarioReport } from '../harness/report';
import { formatDuration, formatRatio } from '../harness/stats';
import { expectCount } from '../harness/verify';
import { callscopeNestedContender } from '../pipelines/callscope';
import { bareNestedChain } from '../pipelines/floor';
import { langChainNestedContender } from '../pipelines/langchain';
import type { BenchSizes } from '../settings';
import { LANGCHAIN_LABEL, measured, ratioCell, roundSpread } from './shared';

const OURS = 'callscope (async-local-storage)';
const BARE = 'bare async functions';

/** no-handler: nested-3 with nobody listening, against three bare nested async function calls. */
export const noHandler: Scenario<BenchSizes> = {
  name: 'no-handler',
  onOneCpu: true,
  async run(sizes): Promise<ScenarioReport> {
    const ops = sizes.opsPerSample.noHandler;
    const bare = bareNestedChain(3);
    expectCount('bare nested-3: output', await bare(1), 2);
    const results = await interleave(
      [
        await callscopeNestedContender({ depth: 3, mode: 'async-local-storage', opsPerSample: ops, name: OURS, withHandler: false }),
        await langChainNestedContender(3, ops, LANGCHAIN_LABEL, { withHandler: false }),
        { name: BARE, opsPerSample: ops, sample: repeat(ops, () => bare(1)) },
      ],
      sizes.micro,
    );
    const ours = measured(results, OURS);
    const langchain = measured(results, LANGCHAIN_LABEL);
    const baseline = measured(results, BARE);
    const overBare = ours.medianMs / baseline.medianMs;
    return {
      name: 'no-handler',
      description:
        'The nested-3 pipeline invoked with no config and no handler anywhere, against three bare nested async functions (`top → mid → leaf`, no callbacks at all). Times are per top-level invoke.',
      tables: [
        {
          headers: ['contender', 'median / invoke', 'round medians', `${LANGCHAIN_LABEL} ÷ this`, 'this ÷ bare'],
          rows: [ours, langchain, baseline].map((measurement) => [
            measurement.name,
            formatDuration(measurement.medianMs),
            roundSpread(measurement),
            ratioCell(langchain, measurement),
            ratioCell(measurement, baseline),
          ]),
        },
      ],
      targets: [
        {
          target: 'no-handler nested-3: within 3× of three bare nested async function calls',
          observed: `${formatRatio(overBare)} (${formatDuration(ours.medianMs)} vs ${formatDuration(baseline.medianMs)})`,
          pass: overBare <= 3,
        },
      ],
      notes: [],
    };
  },
};
