 
import { RunnableLambda as LCRunnableLambda, type Runnable as LCRunnable } from '@langchain/core/runnables';
import type { Runnable } from '../../lib';
import { interleave, type Contender } from '../harness/interleave';
import type { Scenario, ScenarioReport } from '../harness/report';
import { formatCount, formatDuration, formatRatio } from '../harness/stats';
import { expectCount } from '../harness/verify';
import { responseOfTokens, TokenCounter, useMode } from '../pipelines/callscope';
import { langChainStreamingModel } from '../pipelines/langchain';
import { FakeChatModel, RunnableLambda } from '../target';
import type { BenchSizes } from '../settings';
import { LANGCHAIN_LABEL, measured, roundSpread } from './shared';

const TOKENS = 1_000;
const WARMUP_RUNS = 50;
const CALLSCOPE_SAMPLES = 30;
const OURS = 'callscope streamEvents';
const THEIRS = `${LANGCHAIN_LABEL} streamEvents`;
const BASELINE = 'callscope invoke, one sync token handler, no event stream';
const FLOOR = 'reference: a bare `for await` over as many resolved promises (no callscope)';

/** nested-3 whose leaf invokes `model`: top → mid → leaf → model. */
function nestedWithModel(model: Runnable<string, { content: string }>): Runnable<string, string> {
  const leaf = RunnableLambda.from(async (q: string) => (await model.invoke(q)).content, { name: 'level-2' });
  const mid = RunnableLambda.from(async (q: string) => leaf.invoke(q), { name: 'level-1' });
  return RunnableLambda.from(async (q: string) => mid.invoke(q), { name: 'level-0' });
}

function langChainNestedWithModel(tokens: readonly string[]): LCRunnable<string, string> {
  const model = langChainStreamingModel(tokens);
  const leaf = LCRunnableLambda.from(async (q: string) => (await model.invoke(q)).content as string).withConfig({ runName: 'level-2' });
  const mid = LCRunnableLambda.from(async (q: string) => leaf.invoke(q)).withConfig({ runName: 'level-1' });
  return LCRunnableLambda.from(async (q: string) => mid.invoke(q)).withConfig({ runName: 'level-0' });
}

/** Reads every event; returns how many there were and how many were tokens. */
async function drain(events: AsyncIterable<{ event: string }>): Promise<{ events: number; tokens: number }> {
  let count = 0;
  let tokens = 0;
  for await (const event of events) {
    count++;
    if (event.event === 'on_chat_model_stream') tokens++;
  }
  return { events: count, tokens };
}

/**
 * A near-minimal async iterator, for reference: `next()` returns an already resolved promise of a fresh
 * result, read with `for await`. It holds no callscope code, so it shows how much of the event stream's cost
 * per token is the consumer's own loop (AsyncLocalStorage's promise hooks included: they run for every
 * promise in the process).
 */
function resolvedItems(count: number): AsyncIterableIterator<{ event: string }> {
  let left = count;
  const iterator: AsyncIterableIterator<{ event: string }> = {
    [Symbol.asyncIterator]: () => iterator,
    next: () => (left-- > 0 ? Promise.resolve({ value: { event: 'item' }, done: false }) : Promise.resolve({ value: undefined, done: true })),
  };
  return iterator;
}

/** stream-events: nested-3 + a 1,000-token streaming model consumed through streamEvents. */
export const streamEvents: Scenario<BenchSizes> = {
  name: 'stream-events',
  onOneCpu: true,
  async run(sizes): Promise<ScenarioReport> {
    useMode('async-local-storage');
    const text = responseOfTokens(TOKENS);
    const ours = nestedWithModel(new FakeChatModel({ responses: [text] }));
    const baselineModel = new FakeChatModel({ responses: [text], streaming: true }) as unknown as Runnable<string, { content: string }>;
    const baseline = nestedWithModel(baselineModel);
    const theirs = langChainNestedWithModel(FakeChatModel.tokenize(text));

    // Verified before timing: both sides send the same events, every token among them.
    const oursCheck = await drain(ours.streamEvents('Go', { version: 'v2' }));
    const theirsCheck = await drain(theirs.streamEvents('Go', { version: 'v2' }));
    expectCount(`${OURS}: token events`, oursCheck.tokens, TOKENS);
    expectCount(`${THEIRS}: token events`, theirsCheck.tokens, TOKENS);
    expectCount(`${OURS}: events (as many as ${THEIRS})`, oursCheck.events, theirsCheck.events);
    const counter = new TokenCounter();
    await baseline.invoke('Go', { callbacks: [counter] });
    expectCount(`${BASELINE}: tokens`, counter.tokens, TOKENS);
    const eventCount = oursCheck.events;
    expectCount(`${FLOOR}: items`, (await drain(resolvedItems(eventCount))).events, eventCount);
    // One callscope run takes about a millisecond: warm both callscope paths up (the budget has no warm-up)
    // and take many samples, so that the medians are not JIT compilation.
    for (let i = 0; i < WARMUP_RUNS; i++) {
      await drain(ours.streamEvents('Go', { version: 'v2' }));
      await baseline.invoke('Go', { callbacks: [new TokenCounter()] });
    }

    const contenders: Contender[] = [
      { name: OURS, minSamples: CALLSCOPE_SAMPLES, sample: () => drain(ours.streamEvents('Go', { version: 'v2' })) },
      { name: THEIRS, minSamples: 1, sample: () => drain(theirs.streamEvents('Go', { version: 'v2' })) },
      { name: BASELINE, minSamples: CALLSCOPE_SAMPLES, sample: () => baseline.invoke('Go', { callbacks: [new TokenCounter()] }) },
      { name: FLOOR, minSamples: CALLSCOPE_SAMPLES, sample: () => drain(resolvedItems(eventCount)) },
    ];
    const results = await interleave(contenders, sizes.tokens);
    const eventsPerSecond = (name: string): number => eventCount / (measured(results, name).medianMs / 1000);
    const perToken = (name: string): number => measured(results, name).medianMs / TOKENS;
    const speedup = eventsPerSecond(OURS) / eventsPerSecond(THEIRS);
    const overhead = perToken(OURS) / perToken(BASELINE);
    const row = (name: string, events: boolean): string[] => {
      const measurement = measured(results, name);
      return [name, formatDuration(measurement.medianMs), roundSpread(measurement), events ? formatCount(eventsPerSecond(name)) : '—', formatDuration(perToken(name))];
    };
    return {
      name: 'stream-events',
      description: `nested-3 (three nested async lambdas) whose leaf invokes a fake chat model streaming ${formatCount(TOKENS)} tokens, consumed through \`streamEvents(input, { version: 'v2' })\` (${formatCount(eventCount)} events per run on both sides, verified, ${formatCount(TOKENS)} of them tokens). LangChain: the same lambdas and \`FakeStreamingChatModel({ sleep: 0 })\` with the same tokens. Baseline: the same callscope pipeline invoked with one synchronous token-counting handler and no event stream (model made with \`streaming: true\`).`,
      tables: [
        {
          headers: ['contender', 'median / run', 'round medians', 'events / s', 'per token'],
          rows: [row(OURS, true), row(THEIRS, true), row(BASELINE, false), row(FLOOR, false)],
        },
      ],
      targets: [
        {
          target: 'stream-events: at least 20× the events per second of @langchain/core streamEvents',
          observed: `${formatRatio(speedup)} (${formatCount(eventsPerSecond(OURS))} vs ${formatCount(eventsPerSecond(THEIRS))} events/s)`,
          pass: speedup >= 20,
        },
        {
          target: 'stream-events: at most 2× the cost per token of one sync token handler without an event stream',
          observed: `${formatRatio(overhead)} (${formatDuration(perToken(OURS))} vs ${formatDuration(perToken(BASELINE))} per token)`,
          pass: overhead <= 2,
        },
      ],
      notes: [
        `Each callscope event crosses a bounded buffer (64 events) to the consumer's \`for await\`; the consumer here only counts them.`,
        `The reference row times the consumer's \`for await\` alone, with no callscope code, over as many items as there are events (each a resolved promise of a fresh result): the part of the cost per event that any async iterator's consumer pays here, AsyncLocalStorage's promise hooks included.`,
      ],
    };
  },
};
