/**
 * The pipelines every spec of spec/langchain/ runs twice, once built with callscope and once with
 * @langchain/core 1.2.13, each with the LangChain handler under test, so that the spec can compare what the
 * handler recorded: a lambda → a tool → a nested lambda → a streaming fake chat model (invoked, failing,
 * batched, aborted), and a streamed prompt → model → generator.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { BaseCallbackHandler as LCBaseCallbackHandler } from '@langchain/core/callbacks/base';
import { awaitAllCallbacks } from '@langchain/core/callbacks/promises';
import { AIMessageChunk as LCAIMessageChunk, HumanMessage as LCHumanMessage } from '@langchain/core/messages';
import { Runnable as LCRunnable, RunnableLambda as LCRunnableLambda, RunnableSequence as LCRunnableSequence, type RunnableConfig as LCRunnableConfig } from '@langchain/core/runnables';
import { AsyncLocalStorageProviderSingleton } from '@langchain/core/singletons';
import { tool as lcTool } from '@langchain/core/tools';
import { FakeStreamingChatModel } from '@langchain/core/utils/testing';
import { z } from 'zod';
import {
  FakeChatModel,
  HumanMessage,
  RunnableGenerator,
  RunnableLambda,
  RunnableSequence,
  tool,
  type AIChatMessageChunk,
  type CallbackHandlerLike,
} from '../../lib';

// LangChain finds the parent of a runnable invoked without `config` through this (its Node entry points set
// it up; a bare @langchain/core/runnables import does not).
AsyncLocalStorageProviderSingleton.initializeGlobalInstance(new AsyncLocalStorage());

export const ANSWER = 'Paris is sunny today';
export const TOKENS = FakeChatModel.tokenize(ANSWER);

/** The pipelines, by scenario. */
export type Scenario = 'success' | 'failure' | 'batch' | 'stream' | 'abort';
export const SCENARIOS: readonly Scenario[] = ['success', 'failure', 'batch', 'stream', 'abort'];

/**
 * Makes LangChain's `invoke` stream the model and emit a token per chunk, as callscope's
 * `FakeChatModel({ streaming: true })` does (LangChain streams inside invoke only for such handlers).
 */
class PreferStreaming extends LCBaseCallbackHandler {
  name = 'prefer-streaming';
  readonly lc_prefer_streaming = true;
}

/** The user stops the run while the model streams: a handler aborts it on the second token (both sides). */
function abortOnSecondToken(controller: AbortController): LCBaseCallbackHandler {
  return new AbortOnSecondToken(controller);
}

class AbortOnSecondToken extends LCBaseCallbackHandler {
  name = 'abort-on-second-token';
  private tokens = 0;
  constructor(private readonly controller: AbortController) {
    // Awaited, so LangChain aborts at the same token whatever its background-callbacks default.
    super({ _awaitHandler: true });
  }
  override handleLLMNewToken(): void {
    if (++this.tokens === 2) this.controller.abort(new Error('stopped by the user'));
  }
}

function failIfAsked(topic: string): void {
  if (topic === 'Atlantis') throw new Error('No such city: Atlantis');
}

/** Runs `scenario` with callscope's runnables and `handler`; resolves when the pipeline has settled. */
export async function runCallscope(scenario: Scenario, handler: CallbackHandlerLike): Promise<unknown> {
  const model = new FakeChatModel({ responses: [ANSWER], streaming: true });
  const controller = new AbortController();
  const answer = RunnableLambda.from(
    async (question: string) => {
      return (await model.invoke(question)).content;
    },
    { name: 'answer' },
  );
  const research = tool(
    async ({ topic }: { topic: string }) => {
      failIfAsked(topic);
      return answer.invoke(`What about ${topic}?`);
    },
    { name: 'research', description: 'Researches a topic', schema: z.object({ topic: z.string() }) },
  );
  const agent = RunnableLambda.from(async (city: string) => research.invoke({ topic: city }), { name: 'agent' });
  const config = { callbacks: [handler] };
  switch (scenario) {
    case 'success':
      return agent.invoke('Paris', config);
    case 'failure':
      return agent.invoke('Atlantis', config).catch((error: unknown) => error);
    case 'batch':
      return agent.batch(['Paris', 'Lisbon'], config);
    case 'abort':
      return agent.invoke('Paris', { callbacks: [handler, abortOnSecondToken(controller)], signal: controller.signal }).catch((error: unknown) => error);
    case 'stream': {
      const prompt = RunnableLambda.from((topic: string) => [new HumanMessage(`What about ${topic}?`)], { name: 'prompt' });
      const shout = RunnableGenerator.from(
        async function* (chunks: AsyncIterable<AIChatMessageChunk>) {
          for await (const chunk of chunks) yield chunk.content.toUpperCase();
        },
        { name: 'shout' },
      );
      const chain = RunnableSequence.from<string, string>([prompt, model, shout], { name: 'RunnableSequence' });
      const out: string[] = [];
      for await (const chunk of chain.stream('Paris', config)) out.push(chunk);
      return out;
    }
  }
}

/** A LangChain transform step, as callscope's RunnableGenerator: it maps each input chunk as it arrives. */
class LCShout extends LCRunnable<LCAIMessageChunk, string> {
  lc_namespace = ['spec'];
  static override lc_name(): string {
    return 'shout';
  }
  override getName(): string {
    return 'shout';
  }
  async *shout(chunks: AsyncGenerator<LCAIMessageChunk>): AsyncGenerator<string> {
    for await (const chunk of chunks) yield (chunk.content as string).toUpperCase();
  }
  override async invoke(): Promise<string> {
    throw new Error('not used');
  }
  override transform(chunks: AsyncGenerator<LCAIMessageChunk>, options?: Partial<LCRunnableConfig>): AsyncGenerator<string> {
    return this._transformStreamWithConfig(chunks, (input: AsyncGenerator<LCAIMessageChunk>) => this.shout(input), options);
  }
}

/**
 * Runs `scenario` with @langchain/core's runnables and `handler`; resolves when the pipeline has settled and
 * LangChain's handler calls (backgrounded by default) have finished.
 */
export async function runLangChain(scenario: Scenario, handler: unknown): Promise<unknown> {
  try {
    return await runLangChainPipeline(scenario, handler);
  } finally {
    await awaitAllCallbacks();
  }
}

async function runLangChainPipeline(scenario: Scenario, handler: unknown): Promise<unknown> {
  const model = new FakeStreamingChatModel({ sleep: 0, chunks: TOKENS.map((token) => new LCAIMessageChunk({ content: token })) });
  // Named as callscope names its fake model's runs.
  const namedModel = model.withConfig({ runName: 'FakeChatModel' });
  const controller = new AbortController();
  const answer = LCRunnableLambda.from(async (question: string) => {
    return (await namedModel.invoke(question)).content as string;
  }).withConfig({ runName: 'answer' });
  const research = lcTool(
    async ({ topic }: { topic: string }) => {
      failIfAsked(topic);
      return answer.invoke(`What about ${topic}?`);
    },
    { name: 'research', description: 'Researches a topic', schema: z.object({ topic: z.string() }) },
  );
  const agent = LCRunnableLambda.from(async (city: string) => research.invoke({ topic: city })).withConfig({ runName: 'agent' });
  const callbacks = [handler as LCBaseCallbackHandler, new PreferStreaming()];
  switch (scenario) {
    case 'success':
      return agent.invoke('Paris', { callbacks });
    case 'failure':
      return agent.invoke('Atlantis', { callbacks }).catch((error: unknown) => error);
    case 'batch':
      return agent.batch(['Paris', 'Lisbon'], { callbacks });
    case 'abort':
      return agent.invoke('Paris', { callbacks: [...callbacks, abortOnSecondToken(controller)], signal: controller.signal }).catch((error: unknown) => error);
    case 'stream': {
      const prompt = LCRunnableLambda.from((topic: string) => [new LCHumanMessage(`What about ${topic}?`)]).withConfig({ runName: 'prompt' });
      const chain = LCRunnableSequence.from([prompt, namedModel, new LCShout()]);
      const out: string[] = [];
      for await (const chunk of await chain.stream('Paris', { callbacks: [handler as LCBaseCallbackHandler] })) out.push(chunk);
      return out;
    }
  }
}

/** A run as the specs compare it, whichever side recorded it. */
export interface ComparedRun {
  name: string;
  type: string;
  inputs: unknown;
  outputs: unknown;
  failed: boolean;
  tokens: number;
  children: ComparedRun[];
}

/**
 * What stays of a recorded value once what legitimately differs between the two sides is dropped: a
 * serialized or live message becomes `'<Kind>: <text>'` (`AIMessageChunk` and `AIMessage` are one kind:
 * LangChain's invoke answers with the chunk it streamed), run ids, message ids and empty provider details
 * go.
 */
export function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  if (record.lc === 1 && record.type === 'constructor' && Array.isArray(record.id)) {
    const kind = String(record.id[record.id.length - 1]).replace(/Chunk$/, '');
    const kwargs = (record.kwargs ?? {}) as Record<string, unknown>;
    return `${kind}: ${String(kwargs.content)}`;
  }
  if (typeof (record as { _getType?: unknown })._getType === 'function') {
    const kind = { human: 'HumanMessage', ai: 'AIMessage', system: 'SystemMessage', tool: 'ToolMessage' }[String((record as { _getType(): string })._getType())];
    return `${kind}: ${String(record.content)}`;
  }
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(record)) {
    if (key === 'generationInfo' || key === 'llmOutput' || key === 'id' || key === 'run_id') continue;
    out[key] = normalise(inner);
  }
  return out;
}
