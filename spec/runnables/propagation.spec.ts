import { EventEmitter } from 'node:events';
import { z } from 'zod';
import {
  configure,
  FakeChatModel,
  RunCollector,
  RunnableGenerator,
  RunnableLambda,
  tool,
  type CollectedRun,
  type PropagationMode,
  type RunnableConfig,
} from '../../lib';
import { delay, expectLinked, shapeOf } from '../helpers/trees';

const implicitModes: PropagationMode[] = ['async-local-storage', 'cls-hooked'];

afterAll(() => {
  configure({ propagation: 'async-local-storage' });
});

/** Builds top -> mid -> leaf where each level reaches the next across `boundary`, never passing config. */
function nestedAcross(boundary: (call: () => Promise<unknown>) => Promise<unknown>) {
  const leaf = RunnableLambda.from((x: string) => `${x}!`, { name: 'leaf' });
  const mid = RunnableLambda.from((x: string) => boundary(() => leaf.invoke(x)), { name: 'mid' });
  const top = RunnableLambda.from((x: string) => boundary(() => mid.invoke(x)), { name: 'top' });
  return top;
}

const boundaries: [string, (call: () => Promise<unknown>) => Promise<unknown>][] = [
  ['await', async (call) => {
    await Promise.resolve();
    return await call();
  }],
  ['Promise.all', async (call) => (await Promise.all([call()]))[0]],
  ['setTimeout', (call) => new Promise((resolve) => setTimeout(() => resolve(call()), 1))],
  ['setImmediate', (call) => new Promise((resolve) => setImmediate(() => resolve(call())))],
  ['process.nextTick', (call) => new Promise((resolve) => process.nextTick(() => resolve(call())))],
  ['queueMicrotask', (call) => new Promise((resolve) => queueMicrotask(() => resolve(call())))],
  ['an async generator between yields', async (call) => {
    async function* steps() {
      yield 1;
      await delay(1);
      yield await call();
    }
    let last: unknown;
    for await (const value of steps()) last = value;
    return last;
  }],
];

describe.each(implicitModes)("propagation in '%s' mode", (mode) => {
  beforeEach(() => {
    configure({ propagation: mode });
  });

  it('links three nested lambdas invoked without config to their parents', async () => {
    const collector = new RunCollector();
    const top = nestedAcross((call) => call());

    await expect(top.invoke('hi', { callbacks: [collector] })).resolves.toBe('hi!');

    expect(collector.runs).toHaveLength(1);
    const root = collector.runs[0] as CollectedRun;
    expect(shapeOf(root)).toEqual({
      type: 'chain',
      name: 'top',
      children: [{ type: 'chain', name: 'mid', children: [{ type: 'chain', name: 'leaf', children: [] }] }],
    });
    expect(root.parentRunId).toBeUndefined();
    expectLinked(root);
  });

  it.each(boundaries)('keeps the parent across %s, three levels deep', async (_name, boundary) => {
    const collector = new RunCollector();
    const top = nestedAcross(boundary);

    await top.invoke('x', { callbacks: [collector] });

    expect(collector.runs).toHaveLength(1);
    const root = collector.runs[0] as CollectedRun;
    expect(shapeOf(root)).toEqual({
      type: 'chain',
      name: 'top',
      children: [{ type: 'chain', name: 'mid', children: [{ type: 'chain', name: 'leaf', children: [] }] }],
    });
    expectLinked(root);
  });

  it('links runnables invoked inside a RunnableGenerator between yields, whoever consumes it', async () => {
    const collector = new RunCollector();
    const child = RunnableLambda.from((x: string) => x.toUpperCase(), { name: 'child' });
    const generator = RunnableGenerator.from(
      async function* (inputs: AsyncIterable<string>) {
        for await (const input of inputs) {
          yield await child.invoke(input);
          await delay(1);
          yield await child.invoke(`${input}2`);
        }
      },
      { name: 'gen' },
    );

    // Consumed outside any run: each step of the body must still run in the generator's run.
    const chunks: string[] = [];
    for await (const chunk of generator.stream('a', { callbacks: [collector] })) chunks.push(chunk);

    expect(chunks).toEqual(['A', 'A2']);
    const root = collector.runs[0] as CollectedRun;
    expect(shapeOf(root)).toEqual({
      type: 'chain',
      name: 'gen',
      children: [
        { type: 'chain', name: 'child', children: [] },
        { type: 'chain', name: 'child', children: [] },
      ],
    });
    expectLinked(root);
  });

  it('propagates through a tool to a lambda and a chat model, none passing config', async () => {
    const collector = new RunCollector();
    const model = new FakeChatModel({ responses: ['four words of answer'], streaming: true });
    const lookup = RunnableLambda.from(async (q: string) => (await model.invoke(q)).content, { name: 'lookup' });
    const search = tool(async ({ query }) => lookup.invoke(query), {
      name: 'search',
      description: 'Searches',
      schema: z.object({ query: z.string() }),
    });

    await search.invoke({ query: 'q' }, { callbacks: [collector] });

    const root = collector.runs[0] as CollectedRun;
    expect(shapeOf(root)).toEqual({
      type: 'tool',
      name: 'search',
      children: [{ type: 'chain', name: 'lookup', children: [{ type: 'llm', name: 'FakeChatModel', children: [] }] }],
    });
    expect(root.children[0]?.children[0]?.tokens).toEqual(['four', ' words', ' of', ' answer']);
    expectLinked(root);
  });

  it('inherits tags and metadata; a child config adds tags and overrides metadata keys', async () => {
    const seen: Record<string, { tags?: readonly string[]; metadata?: Record<string, unknown> }> = {};
    const record = (name: string, config: RunnableConfig) => {
      seen[name] = { tags: config.tags, metadata: config.metadata };
    };
    const grandchild = RunnableLambda.from((x: number, config) => (record('grandchild', config), x), { name: 'grandchild' });
    const child = RunnableLambda.from(async (x: number, config) => (record('child', config), grandchild.invoke(x)), { name: 'child' });
    const top = RunnableLambda.from(
      async (x: number, config) => {
        record('top', config);
        return child.invoke(x, { tags: ['b', 'a'], metadata: { user: 'override', step: 2 } });
      },
      { name: 'top' },
    );

    await top.invoke(1, { tags: ['a'], metadata: { user: 'u1', tenant: 't1' } });

    expect(seen.top).toEqual({ tags: ['a'], metadata: { user: 'u1', tenant: 't1' } });
    expect(seen.child).toEqual({ tags: ['a', 'b'], metadata: { user: 'override', tenant: 't1', step: 2 } });
    expect(seen.grandchild).toEqual(seen.child);
  });

  it('unions handlers given at several levels without calling any twice', async () => {
    const outer = new RunCollector();
    const inner = new RunCollector();
    const leaf = RunnableLambda.from((x: number) => x, { name: 'leaf' });
    const mid = RunnableLambda.from((x: number) => leaf.invoke(x, { callbacks: [inner, outer] }), { name: 'mid' });
    const top = RunnableLambda.from((x: number) => mid.invoke(x), { name: 'top' });

    await top.invoke(1, { callbacks: [outer] });

    expect(shapeOf(outer.runs[0] as CollectedRun)).toEqual({
      type: 'chain',
      name: 'top',
      children: [{ type: 'chain', name: 'mid', children: [{ type: 'chain', name: 'leaf', children: [] }] }],
    });
    expect(outer.allRuns()).toHaveLength(3);
    // `inner` only joined at the leaf, whose parent it never saw: the leaf is a root for it.
    expect(inner.runs.map((run) => run.name)).toEqual(['leaf']);
    expect(inner.runs[0]?.parentRunId).toBe(outer.allRuns()[1]?.id);
  });

  it('never inherits runName or runId', async () => {
    const collector = new RunCollector();
    const runId = '0190a6b2-7f1c-7cc1-9a64-4b8f5cf0c0de';
    const child = RunnableLambda.from((x: number) => x, { name: 'child' });
    const top = RunnableLambda.from((x: number) => child.invoke(x), { name: 'top' });

    await top.invoke(1, { callbacks: [collector], runName: 'renamed', runId });

    const root = collector.runs[0] as CollectedRun;
    expect(root.name).toBe('renamed');
    expect(root.id).toBe(runId);
    expect(root.children[0]?.name).toBe('child');
    expect(root.children[0]?.id).not.toBe(runId);
  });

  it('isolates 200 concurrent runs: each handler sees only its own tree', async () => {
    const leaf = RunnableLambda.from(async (x: number) => {
      await delay(x % 3);
      return x;
    }, { name: 'leaf' });
    const mid = RunnableLambda.from(async (x: number) => {
      await new Promise((resolve) => setImmediate(resolve));
      return leaf.invoke(x);
    }, { name: 'mid' });
    const top = RunnableLambda.from(async (x: number) => (await Promise.all([mid.invoke(x), leaf.invoke(x + 1)]))[0], { name: 'top' });

    const collectors = Array.from({ length: 200 }, () => new RunCollector());
    const outputs = await Promise.all(collectors.map((collector, i) => top.invoke(i, { callbacks: [collector], metadata: { i } })));

    expect(outputs).toEqual(collectors.map((_, i) => i));
    collectors.forEach((collector, i) => {
      expect(collector.runs).toHaveLength(1);
      const root = collector.runs[0] as CollectedRun;
      expect(root.metadata).toEqual({ i });
      expect(collector.allRuns()).toHaveLength(4);
      expect(collector.allRuns().every((run) => run.metadata.i === i)).toBe(true);
      expectLinked(root);
    });
  });

  it('reports an error thrown three levels down once per level, with the same error object', async () => {
    const failure = new Error('leaf failed');
    const errors: { runId: string; error: unknown }[] = [];
    const handler = {
      handleChainError(error: unknown, runId: string) {
        errors.push({ runId, error });
      },
    };
    const collector = new RunCollector();
    const leaf = RunnableLambda.from(async () => {
      await delay(1);
      throw failure;
    }, { name: 'leaf' });
    const mid = RunnableLambda.from(() => leaf.invoke(undefined), { name: 'mid' });
    const top = RunnableLambda.from(() => mid.invoke(undefined), { name: 'top' });

    await expect(top.invoke(undefined, { callbacks: [handler, collector] })).rejects.toBe(failure);

    expect(errors).toHaveLength(3);
    expect(errors.every((entry) => entry.error === failure)).toBe(true);
    const ids = collector.allRuns().map((run) => run.id);
    expect(new Set(errors.map((entry) => entry.runId))).toEqual(new Set(ids));
    // Innermost first: leaf, mid, top.
    expect(errors.map((entry) => entry.runId)).toEqual([...ids].reverse());
  });

  it('restores the caller context after a run, also after a run that throws', async () => {
    const outside = new RunCollector();
    const failing = RunnableLambda.from(() => {
      throw new Error('boom');
    }, { name: 'failing' });
    const after = RunnableLambda.from((x: number) => x, { name: 'after' });
    const top = RunnableLambda.from(async () => {
      await failing.invoke(undefined).catch(() => undefined);
      return after.invoke(1);
    }, { name: 'top' });

    await top.invoke(undefined, { callbacks: [outside] });
    // Outside any run again: a new invoke without callbacks is a root run nobody hears.
    await after.invoke(2);

    const root = outside.runs[0] as CollectedRun;
    expect(root.children.map((run) => run.name)).toEqual(['failing', 'after']);
    expect(outside.allRuns()).toHaveLength(3);
  });

  it('gives EventEmitter listeners the context of the emit call', async () => {
    const collector = new RunCollector();
    const emitter = new EventEmitter();
    const child = RunnableLambda.from((x: number) => x, { name: 'child' });
    const calls: Promise<unknown>[] = [];
    emitter.on('work', (x: number) => calls.push(child.invoke(x)));
    const top = RunnableLambda.from(async (x: number) => {
      emitter.emit('work', x);
      await Promise.all(calls);
      return x;
    }, { name: 'top' });

    await top.invoke(1, { callbacks: [collector] });

    expect(shapeOf(collector.runs[0] as CollectedRun).children.map((run) => run.name)).toEqual(['child']);
  });
});

describe("'explicit' mode", () => {
  beforeEach(() => {
    configure({ propagation: 'explicit' });
  });

  it('reproduces the documented failure: children invoked without config lose the handlers', async () => {
    const collector = new RunCollector();
    const top = nestedAcross((call) => call());

    await expect(top.invoke('hi', { callbacks: [collector] })).resolves.toBe('hi!');

    expect(collector.runs).toHaveLength(1);
    expect(shapeOf(collector.runs[0] as CollectedRun)).toEqual({ type: 'chain', name: 'top', children: [] });
  });

  it('loses the handlers inside a tool and a generator too', async () => {
    const collector = new RunCollector();
    const child = RunnableLambda.from((x: string) => x, { name: 'child' });
    const search = tool(async ({ q }) => child.invoke(q), { name: 'search', description: 'd', schema: z.object({ q: z.string() }) });
    const generator = RunnableGenerator.from(async function* (inputs: AsyncIterable<string>) {
      for await (const input of inputs) yield await child.invoke(input);
    }, { name: 'gen' });

    await search.invoke({ q: 'a' }, { callbacks: [collector] });
    await generator.invoke('b', { callbacks: [collector] });

    expect(collector.runs.map(shapeOf)).toEqual([
      { type: 'tool', name: 'search', children: [] },
      { type: 'chain', name: 'gen', children: [] },
    ]);
  });

  it('restores the full tree when each level passes the config it received', async () => {
    const collector = new RunCollector();
    const model = new FakeChatModel({ responses: ['ok'] });
    const leaf = RunnableLambda.from(async (x: string, config) => (await model.invoke(x, config)).content, { name: 'leaf' });
    const mid = RunnableLambda.from((x: string, config) => new Promise((resolve) => setTimeout(() => resolve(leaf.invoke(x, config)), 1)), { name: 'mid' });
    const search = tool(async ({ q }, config) => mid.invoke(q, config), { name: 'search', description: 'd', schema: z.object({ q: z.string() }) });

    await search.invoke({ q: 'a' }, { callbacks: [collector], tags: ['t'] });

    const root = collector.runs[0] as CollectedRun;
    expect(shapeOf(root)).toEqual({
      type: 'tool',
      name: 'search',
      children: [{ type: 'chain', name: 'mid', children: [{ type: 'chain', name: 'leaf', children: [{ type: 'llm', name: 'FakeChatModel', children: [] }] }] }],
    });
    expectLinked(root);
    expect(collector.allRuns().every((run) => run.tags.includes('t'))).toBe(true);
  });

  it('still links the steps of a sequence, which passes its config itself', async () => {
    const collector = new RunCollector();
    const a = RunnableLambda.from((x: number) => x + 1, { name: 'a' });
    const b = RunnableLambda.from((x: number) => x * 2, { name: 'b' });

    await expect(a.pipe(b).invoke(1, { callbacks: [collector] })).resolves.toBe(4);

    expect(shapeOf(collector.runs[0] as CollectedRun)).toEqual({
      type: 'chain',
      name: 'RunnableSequence',
      children: [
        { type: 'chain', name: 'a', children: [] },
        { type: 'chain', name: 'b', children: [] },
      ],
    });
  });
});
