import { interleave, repeat, type Contender, type Measurement } from '../harness/interleave';
import type { Scenario, ScenarioReport, Table } from '../harness/report';
import { formatDuration } from '../harness/stats';
import { expectCount } from '../harness/verify';
import { CountingHandler, fanOut as callscopeFanOut, nestedChain, useMode } from '../pipelines/callscope';
import { FloorCountingHandler, floorFanOut } from '../pipelines/floor';
import { LangChainCountingHandler, langChainFanOut, langChainNestedChain } from '../pipelines/langchain';
import type { BenchSizes } from '../settings';
import { LANGCHAIN_LABEL, measured, ratioCell, roundSpread } from './shared';

const WIDTH = 100;
const MAX_CONCURRENCY = 10;
const OURS = 'callscope (async-local-storage)';
const FLOOR = 'floor';

async function fanOutContenders(): Promise<Contender[]> {
  const events = 2 * (WIDTH + 1);
  useMode('async-local-storage');
  const ours = callscopeFanOut(WIDTH);
  const oursCheck = new CountingHandler();
  expectCount(`${OURS} fan-out: children answered`, await ours.invoke(1, { callbacks: [oursCheck] }), WIDTH);
  expectCount(`${OURS} fan-out: events received when invoke resolved`, oursCheck.events, events);
  const oursHandler = new CountingHandler();

  const langchain = langChainFanOut(WIDTH);
  const langchainCheck = new LangChainCountingHandler();
  expectCount(`${LANGCHAIN_LABEL} fan-out: children answered`, await langchain.invoke(1, { callbacks: [langchainCheck] }), WIDTH);
  expectCount(`${LANGCHAIN_LABEL} fan-out: events received when invoke resolved`, langchainCheck.events, events);
  const langchainHandler = new LangChainCountingHandler();

  const floor = floorFanOut(WIDTH);
  const floorCheck = new FloorCountingHandler();
  expectCount(`${FLOOR} fan-out: children answered`, await floor(1, floorCheck), WIDTH);
  expectCount(`${FLOOR} fan-out: events received when the call resolved`, floorCheck.events, events);
  const floorHandler = new FloorCountingHandler();

  return [
    { name: OURS, sample: repeat(1, () => ours.invoke(1, { callbacks: [oursHandler] })) },
    { name: LANGCHAIN_LABEL, sample: repeat(1, () => langchain.invoke(1, { callbacks: [langchainHandler] })) },
    { name: FLOOR, sample: repeat(1, () => floor(1, floorHandler)) },
  ];
}

async function batchContenders(inputCount: number): Promise<Contender[]> {
  const inputs = Array.from({ length: inputCount }, (_, index) => index);
  const events = 6 * inputCount;
  useMode('async-local-storage');
  const ours = nestedChain(3, 'context');
  const oursCheck = new CountingHandler();
  const oursOutputs = await ours.batch(inputs, { callbacks: [oursCheck], maxConcurrency: MAX_CONCURRENCY });
  expectCount(`${OURS} batch: outputs`, oursOutputs.length, inputCount);
  expectCount(`${OURS} batch: events received when batch resolved`, oursCheck.events, events);
  const oursHandler = new CountingHandler();

  const langchain = langChainNestedChain(3);
  const langchainCheck = new LangChainCountingHandler();
  const langchainOutputs = await langchain.batch(inputs, { callbacks: [langchainCheck], maxConcurrency: MAX_CONCURRENCY });
  expectCount(`${LANGCHAIN_LABEL} batch: outputs`, langchainOutputs.length, inputCount);
  expectCount(`${LANGCHAIN_LABEL} batch: events received when batch resolved`, langchainCheck.events, events);
  const langchainHandler = new LangChainCountingHandler();

  return [
    { name: OURS, sample: () => ours.batch(inputs, { callbacks: [oursHandler], maxConcurrency: MAX_CONCURRENCY }) },
    { name: LANGCHAIN_LABEL, sample: () => langchain.batch(inputs, { callbacks: [langchainHandler], maxConcurrency: MAX_CONCURRENCY }) },
  ];
}

function comparisonTable(caption: string, results: ReadonlyMap<string, Measurement>, names: readonly string[]): Table {
  const langchain = measured(results, LANGCHAIN_LABEL);
  return {
    caption,
    headers: ['contender', 'median / call', 'round medians', `${LANGCHAIN_LABEL} ÷ this`],
    rows: names.map((name) => {
      const measurement = measured(results, name);
      return [name, formatDuration(measurement.medianMs), roundSpread(measurement), ratioCell(langchain, measurement)];
    }),
  };
}

/** fan-out: (a) one lambda calling 100 children with Promise.all; (b) batch of 1,000 inputs, 10 at a time. */
export const fanOut: Scenario<BenchSizes> = {
  name: 'fan-out',
  onOneCpu: true,
  async run(sizes): Promise<ScenarioReport> {
    const wide = await interleave(await fanOutContenders(), sizes.micro);
    // One batch sample is a thousand nested-3 runs: fewer samples per round are enough.
    const batchBudget = { ...sizes.micro, minSamples: Math.min(sizes.micro.minSamples, 3) };
    const batched = await interleave(await batchContenders(sizes.batchInputs), batchBudget);
    const oursWide = measured(wide, OURS);
    const oursBatch = measured(batched, OURS);
    return {
      name: 'fan-out',
      description: `(a) One lambda invoking ${WIDTH} child lambdas at once with \`Promise.all\`, a counting handler at the top (verified: ${2 * (WIDTH + 1)} events per call). (b) \`batch\` of ${sizes.batchInputs.toLocaleString('en-US')} inputs through nested-3 with \`maxConcurrency: ${MAX_CONCURRENCY}\` and a counting handler (verified: ${(6 * sizes.batchInputs).toLocaleString('en-US')} events per batch). Default propagation mode.`,
      tables: [
        comparisonTable(`(a) ${WIDTH} children via Promise.all, per call`, wide, [OURS, LANGCHAIN_LABEL, FLOOR]),
        comparisonTable(`(b) batch of ${sizes.batchInputs.toLocaleString('en-US')}, maxConcurrency ${MAX_CONCURRENCY}, per batch`, batched, [OURS, LANGCHAIN_LABEL]),
      ],
      targets: [],
      notes: [
        `Per child: ${formatDuration(oursWide.medianMs / (WIDTH + 1))} for callscope in (a); per input: ${formatDuration(oursBatch.medianMs / sizes.batchInputs)} in (b).`,
        'The issue sets no target for fan-out; it is recorded to watch for regressions.',
      ],
    };
  },
};
