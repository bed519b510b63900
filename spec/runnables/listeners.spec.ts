import { ConfigError, configure, FakeChatModel, RunCollector, RunnableLambda, tool, type CollectedRun, type ListenerRun, type PropagationMode, type RunnableConfig } from '../../lib';
import { z } from 'zod';

const modes: PropagationMode[] = ['async-local-storage', 'cls-hooked', 'explicit'];

afterAll(() => configure({ propagation: 'async-local-storage', onHandlerError: undefined }));

describe('Runnable.withListeners()', () => {
  it('calls onStart then onEnd with the run, like LangChain\'s Run object', async () => {
    const collector = new RunCollector();
    const calls: [string, ListenerRun][] = [];
    const double = RunnableLambda.from((x: number) => x * 2, { name: 'double' }).withListeners({
      onStart: (run) => void calls.push(['start', { ...run }]),
      onEnd: (run) => void calls.push(['end', { ...run }]),
    });
    const outer = RunnableLambda.from((x: number, config: RunnableConfig) => double.invoke(x, config), { name: 'outer' });
    await outer.invoke(2, { callbacks: [collector], tags: ['t'], metadata: { user: 'u1' } });

    const root = collector.runs[0] as CollectedRun;
    const own = root.children[0] as CollectedRun;
    expect(calls.map(([event]) => event)).toEqual(['start', 'end']);
    const [, started] = calls[0] as [string, ListenerRun];
    expect(started).toMatchObject({
      id: own.id,
      name: 'double',
      run_type: 'chain',
      inputs: { input: 2 },
      parent_run_id: root.id,
      trace_id: root.id,
      tags: ['t'],
      extra: { metadata: { user: 'u1' } },
      outputs: undefined,
      end_time: undefined,
    });
    const [, ended] = calls[1] as [string, ListenerRun];
    expect(ended).toMatchObject({ id: own.id, outputs: { output: 4 }, error: undefined });
    expect(ended.end_time).toBeGreaterThanOrEqual(ended.start_time);
  });

  it('calls onError with the error rendered as LangChain renders it', async () => {
    const errors: ListenerRun[] = [];
    const failing = RunnableLambda.from((): number => {
      throw new Error('broken');
    }).withListeners({ onError: (run) => void errors.push(run) });
    await expect(failing.invoke(undefined)).rejects.toThrow('broken');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.error).toMatch(/^broken\n\nError: broken/);
    expect(errors[0]?.outputs).toBeUndefined();
  });

  it('is inherited by nothing: runs nested inside do not call the listeners', async () => {
    const names: string[] = [];
    const inner = RunnableLambda.from((x: number) => x, { name: 'inner' });
    const outer = RunnableLambda.from((x: number, config: RunnableConfig) => inner.invoke(x, config), { name: 'outer' }).withListeners({
      onStart: (run) => void names.push(run.name),
    });
    await outer.invoke(1);
    expect(names).toEqual(['outer']);
  });

  it('adds no run of its own', async () => {
    const collector = new RunCollector();
    await RunnableLambda.from((x: number) => x, { name: 'only' }).withListeners({ onEnd: () => undefined }).invoke(1, { callbacks: [collector] });
    expect(collector.runs.map((run) => [run.name, run.children.length])).toEqual([['only', 0]]);
  });

  it('awaits an async listener before the run goes on', async () => {
    const order: string[] = [];
    const step = RunnableLambda.from(() => void order.push('body')).withListeners({
      onStart: async () => {
        await Promise.resolve();
        order.push('onStart done');
      },
    });
    await step.invoke(undefined);
    expect(order).toEqual(['onStart done', 'body']);
  });

  it('reports a failing listener like a failing handler and keeps the result', async () => {
    const reports: unknown[] = [];
    configure({ onHandlerError: (report) => void reports.push(report) });
    try {
      const step = RunnableLambda.from(() => 'fine').withListeners({
        onEnd: () => {
          throw new Error('listener broke');
        },
      });
      await expect(step.invoke(undefined)).resolves.toBe('fine');
      expect(reports).toHaveLength(1);
    } finally {
      configure({ onHandlerError: undefined });
    }
  });

  it('gives each of 50 concurrent runs its own run object', async () => {
    const ids = new Map<string, number>();
    const step = RunnableLambda.from(async (x: number) => x).withListeners({
      onEnd: (run) => void ids.set(run.id, run.outputs?.output as number),
    });
    await Promise.all(Array.from({ length: 50 }, (_, index) => step.invoke(index)));
    expect([...ids.values()].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, index) => index));
  });

  it('reports tools and chat models with their run type', async () => {
    const types: string[] = [];
    const listeners = { onEnd: (run: ListenerRun) => void types.push(run.run_type) };
    const search = tool(async ({ q }: { q: string }) => q, { name: 'search', description: 'search', schema: z.object({ q: z.string() }) }).withListeners(listeners);
    const model = new FakeChatModel({ responses: ['hi'] }).withListeners(listeners);
    await search.invoke({ q: 'x' });
    await model.invoke('hello');
    expect(types).toEqual(['tool', 'llm']);
  });

  it.each([
    [null, 'listeners'],
    [{ onStart: 'no' }, 'onStart'],
    [{ onFinish: () => undefined }, 'onFinish'],
  ])('throws ConfigError for %p', (listeners, field) => {
    let caught: unknown;
    try {
      RunnableLambda.from(() => 1).withListeners(listeners as never);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).field).toBe(field);
  });

  describe.each(modes)("in '%s' mode", (mode) => {
    beforeEach(() => configure({ propagation: mode }));

    it("calls the listeners with the run's parent", async () => {
      const parents: (string | undefined)[] = [];
      const collector = new RunCollector();
      const inner = RunnableLambda.from((x: number) => x, { name: 'inner' }).withListeners({ onEnd: (run) => void parents.push(run.parent_run_id) });
      const outer = RunnableLambda.from((x: number, config: RunnableConfig) => inner.invoke(x, config), { name: 'outer' });
      await outer.invoke(1, { callbacks: [collector] });
      expect(parents).toEqual([(collector.runs[0] as CollectedRun).id]);
    });
  });
});
