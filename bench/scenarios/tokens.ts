import { FakeChatModel } from '../target';
import { interleave, type Contender } from '../harness/interleave';
import type { Scenario, ScenarioReport } from '../harness/report';
import { formatCount, formatDuration, formatRatio, plural } from '../harness/stats';
import { expectCount } from '../harness/verify';
import { AsyncTokenCounter, responseOfTokens, streamingModel, TokenCounter, useMode } from '../pipelines/callscope';
import { LangChainAsyncTokenCounter, LangChainTokenCounter, langChainStreamingModel } from '../pipelines/langchain';
import type { BenchSizes } from '../settings';
import { LANGCHAIN_LABEL, measured, roundSpread } from './shared';

const OURS_SYNC = 'callscope, sync handler';
const OURS_ASYNC = 'callscope, async handler';
const LANGCHAIN_SYNC = `${LANGCHAIN_LABEL}, sync handler`;
const LANGCHAIN_ASYNC = `${LANGCHAIN_LABEL}, async handler`;

interface TokenHandler {
  readonly tokens: number;
}

/**
 * A contender invoking a streaming model with a fresh counting handler per invoke, verified to have
 * received every token when `invoke` resolved.
 */
async function tokenContender<THandler extends TokenHandler>(
  name: string,
  tokenCount: number,
  invoke: (handler: THandler) => Promise<unknown>,
  createHandler: () => THandler,
  minSamples?: number,
): Promise<Contender> {
  const check = createHandler();
  await invoke(check);
  expectCount(`${name}: tokens received when invoke resolved`, check.tokens, tokenCount);
  return { name, minSamples, sample: () => invoke(createHandler()) };
}

/** tokens: a fake chat model streaming a long response through one handler, sync and async. */
export const tokens: Scenario<BenchSizes> = {
  name: 'tokens',
  onOneCpu: true,
  async run(sizes): Promise<ScenarioReport> {
    const count = sizes.tokenCount;
    useMode('async-local-storage');
    const text = responseOfTokens(count);
    const ours = streamingModel(text);
    const langchain = langChainStreamingModel(FakeChatModel.tokenize(text));
    // One LangChain sample takes seconds; one per round is enough for its order of magnitude.
    const langChainSamples = 1;
    const results = await interleave(
      [
        await tokenContender(OURS_SYNC, count, (handler) => ours.invoke('Go', { callbacks: [handler] }), () => new TokenCounter()),
        await tokenContender(OURS_ASYNC, count, (handler) => ours.invoke('Go', { callbacks: [handler] }), () => new AsyncTokenCounter()),
        await tokenContender(
          LANGCHAIN_SYNC,
          count,
          (handler) => langchain.invoke('Go', { callbacks: [handler] }),
          () => new LangChainTokenCounter(),
          langChainSamples,
        ),
        await tokenContender(
          LANGCHAIN_ASYNC,
          count,
          (handler) => langchain.invoke('Go', { callbacks: [handler] }),
          () => new LangChainAsyncTokenCounter(),
          langChainSamples,
        ),
      ],
      sizes.tokens,
    );
    const perSecond = (name: string): number => count / (measured(results, name).medianMs / 1000);
    const oursSync = perSecond(OURS_SYNC);
    const langchainSync = perSecond(LANGCHAIN_SYNC);
    const row = (name: string, versus: string): string[] => {
      const measurement = measured(results, name);
      return [
        name,
        formatDuration(measurement.medianMs),
        roundSpread(measurement),
        formatCount(perSecond(name)),
        versus === name ? '—' : formatRatio(perSecond(name) / perSecond(versus)),
      ];
    };
    return {
      name: 'tokens',
      description: `\`invoke\` of a fake chat model streaming a ${formatCount(count)}-token response, one \`handleLLMNewToken\` per token, through one counting handler (a fresh one per invoke). callscope: \`FakeChatModel({ responses: [text], streaming: true })\`. LangChain: \`FakeStreamingChatModel({ sleep: 0, chunks })\` from \`@langchain/core/utils/testing\` with the same ${formatCount(count)} tokens as chunks, and \`lc_prefer_streaming\` on the handler so that \`invoke\` streams. Every handler is verified to have received all ${formatCount(count)} tokens when \`invoke\` resolved.`,
      tables: [
        {
          headers: ['contender', 'median / invoke', 'round medians', 'tokens / s', `vs ${LANGCHAIN_LABEL} (same handler kind)`],
          rows: [row(OURS_SYNC, LANGCHAIN_SYNC), row(OURS_ASYNC, LANGCHAIN_ASYNC), row(LANGCHAIN_SYNC, LANGCHAIN_SYNC), row(LANGCHAIN_ASYNC, LANGCHAIN_ASYNC)],
        },
      ],
      targets: [
        {
          target: 'tokens: at least 2,000,000 tokens/s through one sync handler',
          observed: `${formatCount(oursSync)} tokens/s`,
          pass: oursSync >= 2_000_000,
        },
        {
          target: 'tokens: at least 10× @langchain/core (sync handler)',
          observed: `${formatRatio(oursSync / langchainSync)} (${formatCount(oursSync)} vs ${formatCount(langchainSync)} tokens/s)`,
          pass: oursSync / langchainSync >= 10,
        },
      ],
      notes: [
        `LangChain's invoke also builds the aggregated message chunk by chunk (its streaming path); that is part of what its users pay per token. callscope takes ${plural(sizes.tokens.minSamples, 'sample')} per round, LangChain ${plural(langChainSamples, 'sample')}; the verification invoke before timing warms each contender up.`,
      ],
    };
  },
};
