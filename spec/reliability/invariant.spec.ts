import { z } from 'zod';
import {
  configure,
  dispatchCustomEvent,
  FakeChatModel,
  flushCallbacks,
  RunEndedError,
  RunnableGenerator,
  RunnableLambda,
  tool,
} from '../../lib';
import { delay } from '../helpers/trees';
import { InvariantChecker } from '../helpers/invariant';

afterEach(() => configure({ propagation: 'async-local-storage', callbacks: 'blocking' }));

const model = new FakeChatModel({ responses: ['one two three'], streaming: true });
const leaf = RunnableLambda.from(async (x: number) => {
  await delay(1);
  await dispatchCustomEvent('progress', x);
  return (await model.invoke(String(x))).content;
}, { name: 'leaf' });
const failing = RunnableLambda.from(async () => {
  await delay(1);
  throw new Error('leaf failed');
}, { name: 'failing' });
const search = tool(async ({ n }) => leaf.invoke(n), { name: 'search', description: 'd', schema: z.object({ n: z.number() }) });
const fanOut = RunnableLambda.from(async (x: number) => Promise.all([search.invoke({ n: x }), leaf.invoke(x + 1), search.invoke({ n: x + 2 })]), { name: 'fanOut' });
const generator = RunnableGenerator.from(async function* (inputs: AsyncIterable<number>) {
  for await (const x of inputs) {
    yield await leaf.invoke(x);
    yield await search.invoke({ n: x });
  }
}, { name: 'generator' });

describe('the run invariant', () => {
  it.each([
    ['nested runs with tokens and custom events', () => fanOut.invoke(1)],
    ['a generator streamed to the end', () => generator.invoke(1)],
    ['a sequence streamed', async () => {
      for await (const _ of RunnableLambda.from((x: number) => String(x)).pipe(model).stream(1)) void _;
    }],
  ] as [string, () => Promise<unknown>][])('holds for %s, for every handler', async (_name, run) => {
    const first = new InvariantChecker();
    const second = new InvariantChecker();
    const top = RunnableLambda.from(() => run(), { name: 'top' });

    await top.invoke(undefined, { callbacks: [first, second] });

    for (const checker of [first, second]) {
      expect(checker.violations()).toEqual([]);
      expect(checker.open()).toEqual([]);
      expect(checker.ended()).toBeGreaterThan(3);
    }
  });

  it('holds when a child fails and the failure crosses every level', async () => {
    const checker = new InvariantChecker();
    const top = RunnableLambda.from(() => search.invoke({ n: 1 }).then(() => failing.invoke(undefined)), { name: 'top' });

    await expect(top.invoke(undefined, { callbacks: [checker] })).rejects.toThrow('leaf failed');

    expect(checker.violations()).toEqual([]);
    expect(checker.open()).toEqual([]);
  });

  it('holds when a raiseError handler fails the start: every handler, before and after it, gets the error', async () => {
    const before = new InvariantChecker();
    const after = new InvariantChecker();
    const strict = { name: 'strict', raiseError: true, handleChainStart: () => { throw new Error('refused'); } };

    await expect(leaf.invoke(1, { callbacks: [before, strict, after] })).rejects.toThrow('refused');

    for (const checker of [before, after]) {
      expect(checker.violations()).toEqual([]);
      expect(checker.open()).toEqual([]);
      expect(checker.runs.size).toBe(1);
    }
  });

  it('holds when a raiseError handler fails the end: handlers after it still get the end', async () => {
    const after = new InvariantChecker();
    const strict = { name: 'strict', raiseError: true, handleChainEnd: () => { throw new Error('refused'); } };

    await expect(RunnableLambda.from((x: number) => x).invoke(1, { callbacks: [strict, after] })).rejects.toThrow('refused');

    expect(after.violations()).toEqual([]);
    expect(after.open()).toEqual([]);
  });

  it('holds when the consumer stops a stream early', async () => {
    const checker = new InvariantChecker();
    for await (const chunk of generator.stream(1, { callbacks: [checker] })) {
      void chunk;
      break;
    }
    expect(checker.violations()).toEqual([]);
    expect(checker.open()).toEqual([]);
  });

  it('holds in background delivery too, once flushed', async () => {
    configure({ callbacks: 'background' });
    const checker = new InvariantChecker();
    const runId = '0190a6b2-7f1c-7cc1-9a64-4b8f5cf0c0de';

    await fanOut.invoke(1, { callbacks: [checker], runId });
    await flushCallbacks(runId);

    expect(checker.violations()).toEqual([]);
    expect(checker.open()).toEqual([]);
    expect(checker.ended()).toBeGreaterThan(5);
  });

  it('refuses custom events for a run that has ended, so handlers never see events after an end', async () => {
    const checker = new InvariantChecker();
    let late: Promise<void> | undefined;
    const quick = RunnableLambda.from(() => {
      late = delay(5).then(() => dispatchCustomEvent('too late', 1));
      return 'done';
    }, { name: 'quick' });

    await quick.invoke(undefined, { callbacks: [checker] });

    await expect(late).rejects.toBeInstanceOf(RunEndedError);
    expect(checker.violations()).toEqual([]);
  });
});
