import { interleave, repeat, type Contender, type Measurement } from '../harness/interleave';
import type { Scenario, ScenarioReport, Table } from '../harness/report';
import { formatDuration, formatRatio } from '../harness/stats';
import { expectCount } from '../harness/verify';
import { CountingHandler, parallelOfLambdas, useMode } from '../pipelines/callscope';
import { LangChainCountingHandler, langChainParallelOfLambdas } from '../pipelines/langchain';
import type { BenchSizes } from '../settings';
import { LANGCHAIN_LABEL, measured, ratioCell, roundSpread } from './shared';

const WIDTH = 100;
const OURS = 'callscope (async-local-storage)';

async function contenders(): Promise<Contender[]> {
  const events = 2 * (WIDTH + 1);
  useMode('async-local-storage');
  const ours = parallelOfLambdas(WIDTH);
  const oursCheck = new CountingHandler();
  expectCount(`${OURS} parallel: outputs`, Object.keys(await ours.invoke(1, { callbacks: [oursCheck] })).length, WIDTH);
  expectCount(`${OURS} parallel: events received when invoke resolved`, oursCheck.events, events);
  const oursHandler = new CountingHandler();

  const langchain = langChainParallelOfLambdas(WIDTH);
  const langchainCheck = new LangChainCountingHandler();
  expectCount(`${LANGCHAIN_LABEL} parallel: outputs`, Object.keys(await langchain.invoke(1, { callbacks: [langchainCheck] })).length, WIDTH);
  expectCount(`${LANGCHAIN_LABEL} parallel: events received when invoke resolved`, langchainCheck.events, events);
  const langchainHandler = new LangChainCountingHandler();

  return [
    { name: OURS, sample: repeat(1, () => ours.invoke(1, { callbacks: [oursHandler] })) },
    { name: LANGCHAIN_LABEL, sample: repeat(1, () => langchain.invoke(1, { callbacks: [langchainHandler] })) },
  ];
}

function comparisonTable(results: ReadonlyMap<string, Measurement>): Table {
  const langchain = measured(results, LANGCHAIN_LABEL);
  return {
    caption: `RunnableParallel of ${WIDTH} lambdas, one handler, per invoke`,
    headers: ['contender', 'median / invoke', 'round medians', `${LANGCHAIN_LABEL} ÷ this`],
    rows: [OURS, LANGCHAIN_LABEL].map((name) => {
      const measurement = measured(results, name);
      return [name, formatDuration(measurement.medianMs), roundSpread(measurement), ratioCell(langchain, measurement)];
    }),
  };
}

/** parallel: `RunnableParallel.from` of 100 async lambdas with one counting handler, against @langchain/core's. */
export const parallel: Scenario<BenchSizes> = {
  name: 'parallel',
  onOneCpu: true,
  async run(sizes): Promise<ScenarioReport> {
    const results = await interleave(await contenders(), sizes.micro);
    const ours = measured(results, OURS);
    const langchain = measured(results, LANGCHAIN_LABEL);
    const speedup = langchain.medianMs / ours.medianMs;
    return {
      name: 'parallel',
      description: `\`RunnableParallel.from\` of ${WIDTH} async \`RunnableLambda\`s, one counting handler given at the top (verified: ${2 * (WIDTH + 1)} events per invoke, the parallel's and each branch's start and end), against \`RunnableParallel.from\` of @langchain/core with the same handler. Default propagation mode.`,
      tables: [comparisonTable(results)],
      targets: [
        {
          target: `parallel of ${WIDTH} lambdas with one handler: at least 25× faster than @langchain/core`,
          observed: `${formatRatio(speedup)} (${formatDuration(ours.medianMs)} vs ${formatDuration(langchain.medianMs)})`,
          pass: speedup >= 25,
        },
      ],
      notes: [`Per branch: ${formatDuration(ours.medianMs / (WIDTH + 1))} for callscope, ${formatDuration(langchain.medianMs / (WIDTH + 1))} for @langchain/core.`],
    };
  },
};
