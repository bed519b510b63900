import { interleave, type Measurement } from '../harness/interleave';
import type { Scenario, ScenarioReport, Table } from '../harness/report';
import { formatDuration, formatRatio } from '../harness/stats';
import { runWorker } from '../harness/worker';
import { callscopeNestedContender, useMode } from '../pipelines/callscope';
import { floorNestedContender } from '../pipelines/floor';
import { langChainNestedContender } from '../pipelines/langchain';
import type { BenchSizes } from '../settings';
import type { NestedClsHookedInput, NestedClsHookedResult } from '../workers/nested-cls-hooked';
import { LANGCHAIN_LABEL, measured, ratioCell, roundSpread } from './shared';

const ALS = 'callscope (async-local-storage)';
const EXPLICIT = 'callscope (explicit)';
const FLOOR = 'floor';
const STRICT_FLOOR = "strict floor (callscope's id generator)";

/**
 * nested-3: top → mid → leaf lambdas, one counting handler given at the top and inherited by the children
 * (invoked without config, except in explicit mode, which passes it by hand).
 */
export const nested3: Scenario<BenchSizes> = {
  name: 'nested-3',
  onOneCpu: true,
  async run(sizes): Promise<ScenarioReport> {
    const ops = sizes.opsPerSample.nested3;
    const contenders = [
      await callscopeNestedContender({ depth: 3, mode: 'async-local-storage', opsPerSample: ops, name: ALS }),
      await callscopeNestedContender({ depth: 3, mode: 'explicit', opsPerSample: ops, name: EXPLICIT }),
      await langChainNestedContender(3, ops, LANGCHAIN_LABEL),
      await floorNestedContender(3, ops, FLOOR),
      await floorNestedContender(3, ops, STRICT_FLOOR, 'callscope'),
    ];
    const results = await interleave(contenders, sizes.micro);
    // Back to the default for the scenarios that follow.
    useMode('async-local-storage');
    const hooked = await runWorker<NestedClsHookedResult>('nested-cls-hooked', {
      budget: sizes.micro,
      opsPerSample: ops,
    } satisfies NestedClsHookedInput);

    const langchain = measured(results, LANGCHAIN_LABEL);
    const floor = measured(results, FLOOR);
    const ours = measured(results, ALS);
    const row = (measurement: Measurement, note = ''): string[] => [
      measurement.name + note,
      formatDuration(measurement.medianMs),
      roundSpread(measurement),
      ratioCell(langchain, measurement),
      ratioCell(measurement, floor),
    ];
    const table: Table = {
      headers: ['contender', 'median / invoke', 'round medians', `${LANGCHAIN_LABEL} ÷ this`, 'this ÷ floor'],
      rows: [
        row(ours),
        row(measured(results, EXPLICIT)),
        row(hooked.ours, ' †'),
        row(langchain),
        row(floor),
        row(measured(results, STRICT_FLOOR)),
        [
          hooked.floor.name + ' †',
          formatDuration(hooked.floor.medianMs),
          roundSpread(hooked.floor),
          ratioCell(langchain, hooked.floor),
          ratioCell(hooked.floor, floor),
        ],
      ],
    };
    const speedup = langchain.medianMs / ours.medianMs;
    const overFloor = ours.medianMs / floor.medianMs;
    const strictFloor = measured(results, STRICT_FLOOR);
    return {
      name: 'nested-3',
      description:
        'Three nested async `RunnableLambda`s (top → mid → leaf), one counting handler given at the top through `{ callbacks: [handler] }` and inherited by the children, which are invoked without config (explicit mode passes `config` by hand). Every contender is first verified to deliver 6 events by the time `invoke` resolves. Times are per top-level invoke.',
      tables: [table],
      targets: [
        {
          target: 'nested-3 with a handler: at least 25× faster than @langchain/core (default mode)',
          observed: `${formatRatio(speedup)} (${formatDuration(ours.medianMs)} vs ${formatDuration(langchain.medianMs)})`,
          pass: speedup >= 25,
        },
        {
          target: 'nested-3 with a handler: within 1.15× of the floor (default mode)',
          observed: `${formatRatio(overFloor)} (${formatDuration(ours.medianMs)} vs ${formatDuration(floor.medianMs)}); ${formatRatio(ours.medianMs / strictFloor.medianMs)} of the strict floor (${formatDuration(strictFloor.medianMs)})`,
          pass: overFloor <= 1.15,
        },
      ],
      notes: [
        '† measured in a separate child process: `configure({ propagation: \'cls-hooked\' })` installs a global async hook that slows every promise in the process for ever after. Its ratio to @langchain/core compares across processes; the floor row under the hook is from the same child process.',
        `In the cls-hooked process: callscope (cls-hooked) ÷ floor under the hook = ${formatRatio(hooked.ours.medianMs / hooked.floor.medianMs)}.`,
        'The floor does only the essential work: one AsyncLocalStorage `run` per level, one UUIDv7 per run from `uuid`\'s v7(), direct calls of the handler\'s start/end methods with the parent id. The strict floor is the same with callscope\'s own UUIDv7 generator (about 470 ns cheaper an id than `uuid`\'s), so that every difference left is callscope\'s own per-run work; it is reported, the target is set against the floor.',
      ],
    };
  },
};
