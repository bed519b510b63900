/**
 * streamEvents in callscope and in @langchain/core 1.x, on the same pipelines, compared event for event and
 * field by field (name, tags, metadata, data), ignoring only run ids (and timings, which neither has).
 * callscope's additions are compared separately: `parent_ids`, and the `on_chain_error` /
 * `on_chat_model_error` events LangChain.js does not send.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { dispatchCustomEvent as lcDispatchCustomEvent } from '@langchain/core/callbacks/dispatch';
import { AIMessageChunk as LCAIMessageChunk, HumanMessage as LCHumanMessage } from '@langchain/core/messages';
import { Runnable as LCRunnable, RunnableLambda as LCRunnableLambda, RunnableSequence as LCRunnableSequence, type RunnableConfig as LCRunnableConfig } from '@langchain/core/runnables';
import { AsyncLocalStorageProviderSingleton } from '@langchain/core/singletons';
import { tool as lcTool } from '@langchain/core/tools';
import { FakeStreamingChatModel } from '@langchain/core/utils/testing';
import { z } from 'zod';
import {
  configure,
  FakeChatModel,
  HumanMessage,
  RunnableGenerator,
  RunnableLambda,
  RunnableSequence,
  dispatchCustomEvent,
  tool,
  type AIChatMessageChunk,
  type LangSmithParams,
  type StreamEvent,
} from '../../lib';
import { normalise } from '../langchain/pipelines';

AsyncLocalStorageProviderSingleton.initializeGlobalInstance(new AsyncLocalStorage());

const ANSWER = 'Paris is sunny today';
const TOKENS = FakeChatModel.tokenize(ANSWER);

/** callscope's fake model, describing itself to tracers as LangChain's FakeStreamingChatModel does. */
class FakeStreamingModel extends FakeChatModel {
  override getLsParams(): LangSmithParams {
    return { ls_provider: 'FakeStreamingChatModel', ls_model_type: 'chat' };
  }
}

function callscopeModel(): FakeChatModel {
  return new FakeStreamingModel({ responses: [ANSWER], name: 'FakeChatModel' });
}

function langChainModel(): LCRunnable {
  return new FakeStreamingChatModel({ sleep: 0, chunks: TOKENS.map((token) => new LCAIMessageChunk({ content: token })) }).withConfig({ runName: 'FakeChatModel' });
}

interface LoggedEvent {
  event: string;
  name: string;
  tags: string[];
  metadata: unknown;
  data: unknown;
}

// LangChain stamps its own version and integration kind into the metadata of tools and chat models: a
// fact about the library that ran, not about the run.
const LIBRARY_STAMPS = new Set(['versions', 'ls_integration', 'ls_stop']);

function ownMetadata(metadata: unknown): unknown {
  return Object.fromEntries(Object.entries((metadata ?? {}) as Record<string, unknown>).filter(([key]) => !LIBRARY_STAMPS.has(key)));
}

// An error as text (LangChain.js's on_tool_error) ends with its stack, which differs by construction.
function withoutStack(data: unknown): unknown {
  const record = data as { error?: unknown } | undefined;
  if (typeof record?.error !== 'string') return data;
  return { ...record, error: record.error.split('\n')[0] };
}

/** What is compared of an event: everything but the run id (and callscope's parent_ids). */
function comparable(event: { event: string; name: string; tags?: string[]; metadata?: unknown; data?: unknown }): LoggedEvent {
  return {
    event: event.event,
    name: event.name,
    tags: [...(event.tags ?? [])].sort(),
    metadata: normalise(ownMetadata(event.metadata)),
    data: normalise(withoutStack(event.data)),
  };
}

const CALLSCOPE_ONLY = new Set(['on_chain_error', 'on_chat_model_error', 'on_llm_error']);

async function collect<T>(events: AsyncIterable<T>): Promise<{ events: T[]; error: unknown }> {
  const out: T[] = [];
  try {
    for await (const event of events) out.push(event);
    return { events: out, error: undefined };
  } catch (error) {
    return { events: out, error };
  }
}

/**
 * Compares the two lists. With `tokenOrder: 'per-run'`, a model's token events are compared in their own
 * order but not placed among the events of the steps after it: LangChain's FakeStreamingChatModel reports a
 * token after yielding its chunk (when the next one is pulled), callscope's models before, so a downstream
 * step's start and first chunk can come on either side of it.
 */
async function compare(
  callscope: AsyncIterable<StreamEvent>,
  langchain: AsyncIterable<{ event: string; name: string; tags?: string[]; metadata?: unknown; data?: unknown }>,
  tokenOrder: 'global' | 'per-run' = 'global',
): Promise<{ ours: StreamEvent[]; ourError: unknown; theirError: unknown }> {
  const ours = await collect(callscope);
  const theirs = await collect(langchain);
  const shared = ours.events.filter((event) => !CALLSCOPE_ONLY.has(event.event)).map(comparable);
  const expected = theirs.events.map(comparable);
  if (tokenOrder === 'global') expect(shared).toEqual(expected);
  else {
    const isToken = (event: LoggedEvent): boolean => event.event === 'on_chat_model_stream';
    expect(shared.filter((event) => !isToken(event))).toEqual(expected.filter((event) => !isToken(event)));
    expect(shared.filter(isToken)).toEqual(expected.filter(isToken));
  }
  return { ours: ours.events, ourError: ours.error, theirError: theirs.error };
}

/** Checks parent_ids: root first, each id a run whose start came earlier in the stream. */
function expectParentIds(events: readonly StreamEvent[]): void {
  const parents = new Map<string, string[]>();
  for (const event of events) {
    if (event.event.endsWith('_start')) {
      const known = parents.get(event.parent_ids[event.parent_ids.length - 1] ?? '');
      if (event.parent_ids.length > 0) expect(known).toEqual(event.parent_ids.slice(0, -1));
      parents.set(event.run_id, [...event.parent_ids]);
    } else if (event.event !== 'on_custom_event') {
      expect(event.parent_ids).toEqual(parents.get(event.run_id));
    }
  }
  expect(events[0]?.parent_ids).toEqual([]);
}

function failIfAsked(topic: string): void {
  if (topic === 'Atlantis') throw new Error('No such city: Atlantis');
}

function callscopeAgent(): RunnableLambda<string, string> {
  const model = callscopeModel();
  const answer = RunnableLambda.from(async (question: string) => (await model.invoke(question)).content, { name: 'answer' });
  const research = tool(
    async ({ topic }: { topic: string }) => {
      failIfAsked(topic);
      return answer.invoke(`What about ${topic}?`);
    },
    { name: 'research', description: 'Researches a topic', schema: z.object({ topic: z.string() }) },
  );
  return RunnableLambda.from(async (city: string) => research.invoke({ topic: city }), { name: 'agent' });
}

function langChainAgent(): LCRunnable<string, string> {
  const model = langChainModel();
  const answer = LCRunnableLambda.from(async (question: string) => (await model.invoke(question)).content as string).withConfig({ runName: 'answer' });
  const research = lcTool(
    async ({ topic }: { topic: string }) => {
      failIfAsked(topic);
      return answer.invoke(`What about ${topic}?`);
    },
    { name: 'research', description: 'Researches a topic', schema: z.object({ topic: z.string() }) },
  );
  return LCRunnableLambda.from(async (city: string) => research.invoke({ topic: city })).withConfig({ runName: 'agent' });
}

/** A LangChain transform step, as callscope's RunnableGenerator. */
class LCShout extends LCRunnable<LCAIMessageChunk, string> {
  lc_namespace = ['spec'];
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


// Another spec file in the same worker may have left a different propagation mode or delivery behind.
beforeEach(() => configure({ propagation: 'async-local-storage', callbacks: 'blocking' }));

describe('Runnable.streamEvents() compared with @langchain/core', () => {
  it('lambda → tool → lambda → streaming chat model: the same events, fields and order', async () => {
    const { ours } = await compare(
      callscopeAgent().streamEvents('Paris', { version: 'v2', tags: ['demo'], metadata: { user: 'ada' } }),
      langChainAgent().streamEvents('Paris', { version: 'v2', tags: ['demo'], metadata: { user: 'ada' } }),
    );
    expect(ours.filter((e) => e.event === 'on_chat_model_stream').map((e) => (e.event === 'on_chat_model_stream' ? e.data.chunk.content : ''))).toEqual(TOKENS);
    expectParentIds(ours);
    const model = ours.find((e) => e.event === 'on_chat_model_start');
    expect(model?.parent_ids.length).toBe(3);
  });

  it('sequence prompt → model → generator, streamed: seq:step tags and stream events of the same runs', async () => {
    const model = callscopeModel();
    const prompt = RunnableLambda.from((topic: string) => [new HumanMessage(`What about ${topic}?`)], { name: 'prompt' });
    const shout = RunnableGenerator.from(
      async function* (chunks: AsyncIterable<AIChatMessageChunk>) {
        for await (const chunk of chunks) yield chunk.content.toUpperCase();
      },
      { name: 'shout' },
    );
    const lcPrompt = LCRunnableLambda.from((topic: string) => [new LCHumanMessage(`What about ${topic}?`)]).withConfig({ runName: 'prompt' });
    const { ours } = await compare(
      RunnableSequence.from<string, string>([prompt, model, shout]).streamEvents('Paris', { version: 'v2' }),
      LCRunnableSequence.from([lcPrompt, langChainModel(), new LCShout()]).streamEvents('Paris', { version: 'v2' }),
      'per-run',
    );
    expect(ours.filter((e) => e.event === 'on_chain_stream' && e.name === 'shout')).toHaveLength(TOKENS.length);
    expect(ours.find((e) => e.name === 'prompt')?.tags).toEqual(['seq:step:1']);
    expectParentIds(ours);
  });

  it('a failing tool: the same events up to on_tool_error, then callscope adds on_chain_error for each chain', async () => {
    const { ours, ourError, theirError } = await compare(
      callscopeAgent().streamEvents('Atlantis', { version: 'v2' }),
      langChainAgent().streamEvents('Atlantis', { version: 'v2' }),
    );
    expect((ourError as Error).message).toBe('No such city: Atlantis');
    expect((theirError as Error).message).toBe('No such city: Atlantis');
    const toolError = ours.find((e) => e.event === 'on_tool_error');
    expect(toolError?.event === 'on_tool_error' && toolError.data.error.split('\n')[0]).toBe('No such city: Atlantis');
    const chainErrors = ours.filter((e) => e.event === 'on_chain_error');
    expect(chainErrors.map((e) => e.name)).toEqual(['agent']);
    expect(chainErrors[0]?.event === 'on_chain_error' && chainErrors[0].data.error).toBe(ourError);
    expect(ours[ours.length - 1]?.event).toBe('on_chain_error');
    expectParentIds(ours);
  });

  it('custom events: on_custom_event with the payload as data, the dispatching run as run_id', async () => {
    const ours = RunnableLambda.from(
      async (city: string, config) => {
        await dispatchCustomEvent('progress', { step: 1, city }, config);
        return city.length;
      },
      { name: 'progress-reporter' },
    );
    const theirs = LCRunnableLambda.from(async (city: string, config) => {
      await lcDispatchCustomEvent('progress', { step: 1, city }, config);
      return city.length;
    }).withConfig({ runName: 'progress-reporter' });
    const { ours: events } = await compare(ours.streamEvents('Paris', { version: 'v2' }), theirs.streamEvents('Paris', { version: 'v2' }));
    const custom = events.find((e) => e.event === 'on_custom_event');
    expect(custom?.run_id).toBe(events[0]?.run_id);
    expect(custom?.parent_ids).toEqual([]);
  });

  it('batch inside a lambda: one subtree per input', async () => {
    const inner = RunnableLambda.from((n: number) => n * 2, { name: 'double' });
    const outer = RunnableLambda.from(async (ns: number[]) => inner.batch(ns), { name: 'outer' });
    const lcInner = LCRunnableLambda.from((n: number) => n * 2).withConfig({ runName: 'double' });
    const lcOuter = LCRunnableLambda.from(async (ns: number[]) => lcInner.batch(ns)).withConfig({ runName: 'outer' });
    const { ours } = await compare(outer.streamEvents([1, 2, 3], { version: 'v2' }), lcOuter.streamEvents([1, 2, 3], { version: 'v2' }));
    expect(ours.filter((e) => e.event === 'on_chain_end' && e.name === 'double')).toHaveLength(3);
    expectParentIds(ours);
  });

  it('filters: include rules ORed, then exclude rules remove', async () => {
    const filters = { includeTypes: ['chat_model'], includeNames: ['research'], excludeTags: ['never'] };
    await compare(callscopeAgent().streamEvents('Paris', { version: 'v2' }, filters), langChainAgent().streamEvents('Paris', { version: 'v2' }, filters));
    const excluded = { includeTypes: ['chat_model', 'tool'], excludeNames: ['research'] };
    await compare(callscopeAgent().streamEvents('Paris', { version: 'v2' }, excluded), langChainAgent().streamEvents('Paris', { version: 'v2' }, excluded));
  });

  it('a chat model on its own: tokens come from its stream, the first event carries the input as given', async () => {
    const { ours } = await compare(callscopeModel().streamEvents('Hi', { version: 'v2' }), langChainModel().streamEvents('Hi', { version: 'v2' }));
    expect(ours[0]?.data).toEqual({ input: 'Hi' });
  });
});
