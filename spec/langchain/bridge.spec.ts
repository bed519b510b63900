import { RunnableLambda as LCRunnableLambda, RunnableSequence as LCRunnableSequence, type Runnable as LCRunnable } from '@langchain/core/runnables';
import { RunCollectorCallbackHandler } from '@langchain/core/tracers/run_collector';
import type { Run } from '@langchain/core/tracers/base';
import { FakeListChatModel } from '@langchain/core/utils/testing';
import { z } from 'zod';
import {
  AbortError,
  ConfigError,
  FakeChatModel,
  RunCollector,
  RunnableLambda,
  tool,
  withCallbacks,
  type CollectedRun,
  type RunnableConfig,
} from '../../lib';
import { fromLangChain, LangChainRunnable, toLangChain } from '../../lib/langchain';
import { expectLinked, shapeOf } from '../helpers/trees';

describe('fromLangChain()', () => {
  it("links a LangChain chat model's run, with its streamed tokens, under the callscope run that invokes it", async () => {
    const collector = new RunCollector();
    const lcModel = fromLangChain(new FakeListChatModel({ responses: ['hi there'] }));
    const ask = RunnableLambda.from(async (q: string) => (await lcModel.invoke(q)).content, { name: 'ask' });

    await expect(ask.invoke('hello', { callbacks: [collector], tags: ['t'] })).resolves.toBe('hi there');

    const root = collector.runs[0] as CollectedRun;
    expect(shapeOf(root)).toEqual({ type: 'chain', name: 'ask', children: [{ type: 'llm', name: 'FakeListChatModel', children: [] }] });
    expectLinked(root);
    const llm = root.children[0] as CollectedRun;
    expect(llm.tokens.join('')).toBe('hi there');
    expect(llm.tags).toContain('t');
  });

  it('links the nested runs of a LangChain chain, inside a callscope tool', async () => {
    const collector = new RunCollector();
    const chain = LCRunnableSequence.from([
      LCRunnableLambda.from((city: string) => `Weather in ${city}?`).withConfig({ runName: 'prompt' }),
      new FakeListChatModel({ responses: ['Sunny'] }),
    ]);
    const weather = tool(async ({ city }) => (await fromLangChain(chain).invoke(city)).content, {
      name: 'weather',
      description: 'd',
      schema: z.object({ city: z.string() }),
    });

    await weather.invoke({ city: 'Porto' }, { callbacks: [collector] });

    const root = collector.runs[0] as CollectedRun;
    expect(shapeOf(root)).toEqual({
      type: 'tool',
      name: 'weather',
      children: [
        {
          type: 'chain',
          name: 'RunnableSequence',
          children: [
            { type: 'chain', name: 'prompt', children: [] },
            { type: 'llm', name: 'FakeListChatModel', children: [] },
          ],
        },
      ],
    });
    expectLinked(root);
  });

  it('streams, and the tokens reach callscope handlers', async () => {
    const collector = new RunCollector();
    const lcModel = fromLangChain(new FakeListChatModel({ responses: ['abc'] }));
    const chunks: unknown[] = [];

    await RunnableLambda.from(async () => {
      for await (const chunk of lcModel.stream('x')) chunks.push((chunk as { content: string }).content);
    }, { name: 'consumer' }).invoke(undefined, { callbacks: [collector] });

    expect(chunks).toEqual(['a', 'b', 'c']);
    expect(collector.runs[0]?.children[0]?.tokens).toEqual(['a', 'b', 'c']);
  });

  it('keeps handlers bound with withCallbacks, and passes the signal on', async () => {
    const bound = new RunCollector();
    const lcModel = withCallbacks(fromLangChain(new FakeListChatModel({ responses: ['ok'], sleep: 50 })), [bound]);
    expect(lcModel).toBeInstanceOf(LangChainRunnable);

    await lcModel.invoke('x');
    expect(bound.runs.map((run) => run.name)).toEqual(['FakeListChatModel']);

    const controller = new AbortController();
    const pending = lcModel.invoke('x', { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
  });

  it('combines LangChain message chunks with their own concat when a later step reads the whole stream', async () => {
    const lcModel = fromLangChain(new FakeListChatModel({ responses: ['abc'] }));
    const chain = lcModel.pipe((message) => (message as { content: string }).content.toUpperCase());
    const chunks: string[] = [];
    for await (const chunk of chain.stream('x')) chunks.push(chunk);
    expect(chunks).toEqual(['ABC']);
  });

  it('throws ConfigError for something that is not a LangChain runnable', () => {
    expect(() => fromLangChain({} as never)).toThrow(ConfigError);
  });
});

describe('callscope runnables inside LangChain.js runs', () => {
  it("accept LangChain's config as their config and report into LangChain's callbacks", async () => {
    const langchain = new RunCollectorCallbackHandler();
    const model = new FakeChatModel({ responses: ['deep answer'] });
    const ours = RunnableLambda.from(async (q: string) => (await model.invoke(q)).content, { name: 'ours' });
    const outer = LCRunnableLambda.from(async (q: string, config?: unknown) => ours.invoke(q, config as RunnableConfig)).withConfig({ runName: 'lc-outer' });

    await outer.invoke('q', { callbacks: [langchain] });

    const root = langchain.tracedRuns[0] as Run;
    expect(root.name).toBe('lc-outer');
    expect(root.child_runs.map((run) => run.name)).toEqual(['ours']);
    expect(root.child_runs[0]?.child_runs.map((run) => [run.name, run.run_type])).toEqual([['FakeChatModel', 'llm']]);
  });

  it('toLangChain() pipes a callscope runnable into a LangChain chain', async () => {
    const langchain = new RunCollectorCallbackHandler();
    const shout = RunnableLambda.from((text: string) => text.toUpperCase(), { name: 'shout' });
    const chain = LCRunnableSequence.from([toLangChain(shout) as LCRunnable<string, string>, LCRunnableLambda.from((text: string) => `${text}!`)]);

    await expect(chain.invoke('hey', { callbacks: [langchain] })).resolves.toBe('HEY!');

    const steps = (langchain.tracedRuns[0] as Run).child_runs;
    expect(steps[0]?.name).toBe('shout');
    expect(steps[0]?.child_runs.map((run) => run.name)).toEqual(['shout']);
  });

  it('round-trips: callscope -> LangChain -> callscope lands in one callscope tree', async () => {
    const collector = new RunCollector();
    const inner = RunnableLambda.from((x: number) => x + 1, { name: 'inner' });
    const lcMiddle = LCRunnableLambda.from(async (x: number, config?: unknown) => inner.invoke(x, config as RunnableConfig)).withConfig({ runName: 'lc-middle' });
    const outer = RunnableLambda.from((x: number) => fromLangChain(lcMiddle).invoke(x), { name: 'outer' });

    await expect(outer.invoke(1, { callbacks: [collector] })).resolves.toBe(2);

    const root = collector.runs[0] as CollectedRun;
    expect(shapeOf(root)).toEqual({
      type: 'chain',
      name: 'outer',
      children: [{ type: 'chain', name: 'lc-middle', children: [{ type: 'chain', name: 'inner', children: [] }] }],
    });
    expectLinked(root);
  });
});
