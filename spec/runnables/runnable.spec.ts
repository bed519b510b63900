import {
  AbortError,
  type CallbackManager,
  ConfigError,
  FakeChatModel,
  RunCollector,
  Runnable,
  RunnableGenerator,
  RunnableLambda,
  RunnableSequence,
  combineChunks,
  type CollectedRun,
  type RunnableConfig,
  getCurrentConfig,
} from '../../lib';
import { validate, version } from 'uuid';
import { delay, expectLinked, shapeOf } from '../helpers/trees';

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const chunks: T[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('RunnableLambda', () => {
  describe('.invoke()', () => {
    it('runs a sync function and resolves with its result', async () => {
      await expect(RunnableLambda.from((x: number) => x + 1).invoke(1)).resolves.toBe(2);
    });

    it('runs an async function and resolves with its result', async () => {
      await expect(RunnableLambda.from(async (x: number) => (await delay(1), x * 3)).invoke(2)).resolves.toBe(6);
    });

    it('rejects with the error the function throws, unchanged', async () => {
      const failure = new TypeError('bad');
      await expect(RunnableLambda.from(() => { throw failure; }).invoke(undefined)).rejects.toBe(failure);
    });

    it('names its runs after options.name, else the function name, else RunnableLambda', () => {
      function shout(x: string) {
        return x.toUpperCase();
      }
      expect(RunnableLambda.from(shout, { name: 'loud' }).name).toBe('loud');
      expect(RunnableLambda.from(shout).name).toBe('shout');
      expect(RunnableLambda.from((x: string) => x).name).toBe('RunnableLambda');
    });

    it('passes the run config, with callbacks naming the run as parent', async () => {
      const collector = new RunCollector();
      let received: RunnableConfig | undefined;
      await RunnableLambda.from((_: unknown, config) => {
        received = config;
      }, { name: 'peek' }).invoke(undefined, { callbacks: [collector] });
      expect((received?.callbacks as { parentRunId?: string }).parentRunId).toBe(collector.runs[0]?.id);
    });

    it('throws ConfigError for a non-function', () => {
      expect(() => RunnableLambda.from(42 as unknown as () => void)).toThrow(ConfigError);
    });
  });

  describe('.batch()', () => {
    it('returns outputs in input order, one run per input', async () => {
      const collector = new RunCollector();
      const slowFirst = RunnableLambda.from(async (x: number) => (await delay(5 - x), x * 10), { name: 'slow' });

      await expect(slowFirst.batch([1, 2, 3], { callbacks: [collector] })).resolves.toEqual([10, 20, 30]);

      expect(collector.runs).toHaveLength(3);
    });

    it('never runs more than maxConcurrency inputs at once', async () => {
      let running = 0;
      let peak = 0;
      const tracked = RunnableLambda.from(async (x: number) => {
        running++;
        peak = Math.max(peak, running);
        await delay(2);
        running--;
        return x;
      });

      const outputs = await tracked.batch(Array.from({ length: 20 }, (_, i) => i), { maxConcurrency: 3 });

      expect(outputs).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(peak).toBe(3);
    });

    it('accepts one config per input', async () => {
      const collector = new RunCollector();
      await RunnableLambda.from((x: number) => x, { name: 'id' }).batch([1, 2], [
        { callbacks: [collector], runName: 'first' },
        { callbacks: [collector], runName: 'second' },
      ]);
      expect(collector.runs.map((run) => run.name).sort()).toEqual(['first', 'second']);
    });

    it('rejects with the first failure, or returns errors in place with returnExceptions', async () => {
      const failure = new Error('odd');
      const evenOnly = RunnableLambda.from((x: number) => {
        if (x % 2) throw failure;
        return x;
      });

      await expect(evenOnly.batch([2, 3, 4])).rejects.toBe(failure);
      await expect(evenOnly.batch([2, 3, 4], undefined, { returnExceptions: true })).resolves.toEqual([2, failure, 4]);
    });

    it('rejects a single config with runId for several inputs, and mismatched config lists', async () => {
      const id = RunnableLambda.from((x: number) => x);
      await expect(id.batch([1, 2], { runId: '0190a6b2-7f1c-7cc1-9a64-4b8f5cf0c0de' })).rejects.toBeInstanceOf(ConfigError);
      await expect(id.batch([1, 2], [{}])).rejects.toThrow('one config per input');
      await expect(id.batch('nope' as unknown as number[])).rejects.toThrow(ConfigError);
      await expect(id.batch([1], { maxConcurrency: 0 })).rejects.toThrow('maxConcurrency');
    });
  });

  describe('.stream()', () => {
    it('yields the whole output as one chunk and reports one run', async () => {
      const collector = new RunCollector();
      const chunks = await collect(RunnableLambda.from((x: string) => x + '!', { name: 'bang' }).stream('hi', { callbacks: [collector] }));
      expect(chunks).toEqual(['hi!']);
      expect(collector.runs[0]?.outputs).toEqual({ output: 'hi!' });
    });

    it('can be awaited first, as LangChain code does', async () => {
      // eslint-disable-next-line @typescript-eslint/await-thenable -- the point: LangChain code awaits stream()
      const stream = await RunnableLambda.from((x: number) => x).stream(7);
      await expect(collect(stream)).resolves.toEqual([7]);
    });

    it('links to the run it was requested in, even when consumed elsewhere', async () => {
      const collector = new RunCollector();
      const inner = RunnableLambda.from((x: number) => x, { name: 'inner' });
      let stream: AsyncIterable<number> | undefined;
      await RunnableLambda.from(() => {
        stream = inner.stream(1);
      }, { name: 'outer' }).invoke(undefined, { callbacks: [collector] });

      await collect(stream as AsyncIterable<number>);

      expect(collector.runs.map(shapeOf)).toEqual([
        { type: 'chain', name: 'outer', children: [{ type: 'chain', name: 'inner', children: [] }] },
      ]);
      expectLinked(collector.runs[0] as CollectedRun);
    });

    it('reports invalid config as a rejection when iterated', async () => {
      const stream = RunnableLambda.from((x: number) => x).stream(1, { tags: 'oops' } as unknown as RunnableConfig);
      await expect(collect(stream)).rejects.toBeInstanceOf(ConfigError);
    });
  });
});

describe('RunnableGenerator', () => {
  const words = RunnableGenerator.from(async function* (inputs: AsyncIterable<string>) {
    for await (const text of inputs) for (const word of text.split(' ')) yield word + ' ';
  }, { name: 'words' });

  it('.stream() yields each chunk the generator yields', async () => {
    await expect(collect(words.stream('a b c'))).resolves.toEqual(['a ', 'b ', 'c ']);
  });

  it('.invoke() concatenates string chunks and reports one run with the combined output', async () => {
    const collector = new RunCollector();
    await expect(words.invoke('a b', { callbacks: [collector] })).resolves.toBe('a b ');
    expect(collector.runs.map((run) => [run.name, run.inputs, run.outputs])).toEqual([['words', { input: 'a b' }, { output: 'a b ' }]]);
  });

  it.each([
    ['arrays are joined', [[1], [2, 3]], [1, 2, 3]],
    ['objects are merged', [{ a: 1 }, { b: 2 }, { a: 3 }], { a: 3, b: 2 }],
    ['other values: the last chunk', [1, 2, 3], 3],
  ] as [string, unknown[], unknown][])('.invoke() combines chunks: %s', async (_, chunks, expected) => {
    const gen = RunnableGenerator.from(async function* () {
      yield* chunks;
    });
    await expect(gen.invoke(undefined)).resolves.toEqual(expected);
  });

  it('ends its run normally with what was consumed when the consumer stops early', async () => {
    const collector = new RunCollector();
    let closed = false;
    const endless = RunnableGenerator.from(async function* () {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }, { name: 'endless' });

    for await (const value of endless.stream(undefined, { callbacks: [collector] })) if (value === 2) break;

    expect(closed).toBe(true);
    expect(collector.runs[0]?.outputs).toEqual({ output: 3 - 1 });
    expect(collector.runs[0]?.error).toBeUndefined();
  });

  it('reports a failure inside the generator as one error event and rethrows it', async () => {
    const collector = new RunCollector();
    const failure = new Error('mid-stream');
    const failing = RunnableGenerator.from(async function* () {
      yield 'a';
      throw failure;
    }, { name: 'failing' });

    await expect(collect(failing.stream(undefined, { callbacks: [collector] }))).rejects.toBe(failure);
    expect(collector.runs[0]?.error).toBe(failure);
  });
});

describe('RunnableSequence', () => {
  const plusOne = RunnableLambda.from((x: number) => x + 1, { name: 'plusOne' });
  const double = RunnableLambda.from((x: number) => x * 2, { name: 'double' });

  it('.invoke() feeds each output to the next step, each step a child run of the sequence', async () => {
    const collector = new RunCollector();
    const sequence = RunnableSequence.from<number, number>([plusOne, double, (x: number) => `=${x}`]);

    await expect(sequence.invoke(2, { callbacks: [collector] })).resolves.toBe('=6');

    const root = collector.runs[0] as CollectedRun;
    expect(shapeOf(root)).toEqual({
      type: 'chain',
      name: 'RunnableSequence',
      children: [
        { type: 'chain', name: 'plusOne', children: [] },
        { type: 'chain', name: 'double', children: [] },
        { type: 'chain', name: 'RunnableLambda', children: [] },
      ],
    });
    expectLinked(root);
  });

  it('pipe() builds the same sequence, flattening nested pipes', async () => {
    const chain = plusOne.pipe(double).pipe(plusOne);
    expect((chain as RunnableSequence<number, number>).steps.map((step) => step.name)).toEqual(['plusOne', 'double', 'plusOne']);
    await expect(chain.invoke(1)).resolves.toBe(5);
  });

  it('.stream() streams the tokens of a chat model at its end', async () => {
    const model = new FakeChatModel({ responses: ['one two three'] });
    const chain = RunnableLambda.from((topic: string) => `Tell me about ${topic}`).pipe(model);
    const collector = new RunCollector();

    const chunks = await collect(chain.stream('cats', { callbacks: [collector] }));

    expect(chunks.map((chunk) => chunk.content)).toEqual(['one', ' two', ' three']);
    const root = collector.runs[0] as CollectedRun;
    expect(shapeOf(root).children.map((child) => child.type)).toEqual(['chain', 'llm']);
    expect(root.children[1]?.tokens).toEqual(['one', ' two', ' three']);
  });

  it('.stream() streams through a generator step chunk by chunk', async () => {
    const model = new FakeChatModel({ responses: ['a b'] });
    const upper = RunnableGenerator.from(async function* (chunks: AsyncIterable<{ content: string }>) {
      for await (const chunk of chunks) yield chunk.content.toUpperCase();
    }, { name: 'upper' });

    await expect(collect(model.pipe(upper).stream('x'))).resolves.toEqual(['A', ' B']);
  });

  it('throws ConfigError for an empty list or a non-runnable step', () => {
    expect(() => RunnableSequence.from([])).toThrow(ConfigError);
    expect(() => RunnableSequence.from([plusOne, 5 as unknown as Runnable<number, number>])).toThrow('steps[1]');
  });
});

describe('Runnable subclasses', () => {
  it('name their runs after the class, or the name a class field gives', async () => {
    class Doubler extends Runnable<number, number> {
      _invoke(x: number): number {
        return x * 2;
      }
    }
    class Named extends Doubler {
      override name = 'named by a field';
    }
    const collector = new RunCollector();
    await new Doubler().invoke(1, { callbacks: [collector] });
    await new Named().invoke(1, { callbacks: [collector] });
    expect(collector.runs.map((run) => run.name)).toEqual(['Doubler', 'named by a field']);
  });

  it('can be made from JavaScript with a getter-only `name`, which the name set at construction shadows', async () => {
    class WithGetter extends Runnable<number, number> {
      // @ts-expect-error -- TypeScript refuses an accessor over a property; plain JavaScript subclasses can have one
      get name(): string {
        return 'from the getter';
      }
      _invoke(x: number): number {
        return x;
      }
    }
    const runnable = new WithGetter();
    expect(runnable.name).toBe('WithGetter');
    const collector = new RunCollector();
    await expect(runnable.invoke(3, { callbacks: [collector] })).resolves.toBe(3);
    expect(collector.runs[0]?.name).toBe('WithGetter');
  });
});

describe('Runnable.withConfig()', () => {
  it('returns a runnable of the same class whose runs use the bound config', async () => {
    const collector = new RunCollector();
    const lambda = RunnableLambda.from((x: number) => x, { name: 'bound' });
    const bound = lambda.withConfig({ callbacks: [collector], tags: ['bound'], metadata: { a: 1 }, runName: 'renamed' });

    expect(bound).toBeInstanceOf(RunnableLambda);
    await bound.invoke(1, { tags: ['call'], metadata: { b: 2 } });
    await lambda.invoke(2);

    expect(collector.runs).toHaveLength(1);
    expect(collector.runs[0]).toMatchObject({ name: 'renamed', tags: ['bound', 'call'], metadata: { a: 1, b: 2 } });
  });

  it('refuses to bind runId, which must be unique per run', () => {
    expect(() => RunnableLambda.from((x: number) => x).withConfig({ runId: '0190a6b2-7f1c-7cc1-9a64-4b8f5cf0c0de' })).toThrow(ConfigError);
  });
});

describe('cancellation with signal', () => {
  it('rejects with AbortError when the signal is already aborted, without starting a run', async () => {
    const collector = new RunCollector();
    const body = jest.fn();
    const controller = new AbortController();
    controller.abort();

    await expect(RunnableLambda.from(body).invoke(1, { signal: controller.signal, callbacks: [collector] })).rejects.toBeInstanceOf(AbortError);
    expect(body).not.toHaveBeenCalled();
    expect(collector.runs).toHaveLength(0);
  });

  it('rejects every nested run with AbortError when the signal aborts mid-run, each reporting one error', async () => {
    const collector = new RunCollector();
    const controller = new AbortController();
    const leaf = RunnableLambda.from(() => new Promise(() => undefined), { name: 'leaf' }); // never settles
    const top = RunnableLambda.from(() => leaf.invoke(undefined), { name: 'top' });

    const pending = top.invoke(undefined, { signal: controller.signal, callbacks: [collector] });
    setTimeout(() => controller.abort(new Error('user left')), 5);

    await expect(pending).rejects.toMatchObject({ name: 'AbortError', code: 'ABORTED', message: expect.stringContaining('user left') });
    const runs = collector.allRuns();
    expect(runs.map((run) => run.name)).toEqual(['top', 'leaf']);
    expect(runs.every((run) => run.error instanceof AbortError)).toBe(true);
  });
});

describe('combineChunks()', () => {
  it('concatenates the content of chat message chunks', () => {
    expect(combineChunks({ role: 'ai', content: 'a' }, { role: 'ai', content: 'b' })).toEqual({ role: 'ai', content: 'ab' });
  });
});

describe('run ids', () => {
  it('are UUIDv7 strings, unique and in creation order', async () => {
    const collector = new RunCollector();
    const lambda = RunnableLambda.from((x: number) => x, { name: 'id' });
    for (let i = 0; i < 2000; i++) await lambda.invoke(i, { callbacks: [collector] });

    const ids = collector.runs.map((run) => run.id);
    expect(ids.every((id) => validate(id) && version(id) === 7)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });
});

describe('runs nobody can observe', () => {
  // No config, no run active, nothing bound: no handler can see the run and nothing can cancel it, so it
  // opens no scope of its own (its body runs in the caller's context, which is no run).
  it('run their body with a config that names no run, and leave getCurrentConfig() undefined', async () => {
    let received: RunnableConfig | undefined;
    let current: RunnableConfig | undefined | 'unset' = 'unset';
    const body = RunnableLambda.from((x: number, config) => {
      received = config;
      current = getCurrentConfig();
      return x + 1;
    });

    await expect(body.invoke(1)).resolves.toBe(2);

    expect((received?.callbacks as CallbackManager).parentRunId).toBeUndefined();
    expect(received?.tags).toEqual([]);
    expect(current).toBeUndefined();
  });

  it('start roots: a child given handlers (with or without the config passed on) has no parent', async () => {
    const collector = new RunCollector();
    const leaf = RunnableLambda.from((x: number) => x, { name: 'leaf' });
    const outer = RunnableLambda.from(async (x: number, config) => {
      await leaf.invoke(x, { ...config, callbacks: [collector] });
      return leaf.invoke(x, { callbacks: [collector] });
    }, { name: 'outer' });

    await outer.invoke(1);

    expect(collector.runs.map((run) => [run.name, run.parentRunId])).toEqual([
      ['leaf', undefined],
      ['leaf', undefined],
    ]);
  });

  it('keep failures as they are: a synchronous throw rejects with the same error', async () => {
    const boom = new Error('boom');
    const failing = RunnableLambda.from(() => {
      throw boom;
    });
    await expect(failing.invoke(1)).rejects.toBe(boom);
  });

  it.each([
    ['a handler in config', (leaf: Runnable<number, number>, c: RunCollector) => leaf.invoke(1, { callbacks: [c] })],
    ['handlers bound with withConfig', (leaf: Runnable<number, number>, c: RunCollector) => leaf.withConfig({ callbacks: [c] }).invoke(1)],
    ['listeners', (leaf: Runnable<number, number>, c: RunCollector) => leaf.withListeners({ onStart: () => undefined }).invoke(1, { callbacks: [c] })],
  ])('are observed as soon as anything can see them: %s', async (_case, call) => {
    const collector = new RunCollector();
    let current: RunnableConfig | undefined;
    const leaf = RunnableLambda.from((x: number) => {
      current = getCurrentConfig();
      return x;
    }, { name: 'leaf' });

    await call(leaf, collector);

    expect(collector.runs.map((run) => run.name)).toEqual(['leaf']);
    expect((current?.callbacks as CallbackManager | undefined)?.parentRunId).toBe(collector.runs[0]?.id);
  });

  it('inside an observed run, a child without config is observed and linked as usual', async () => {
    const collector = new RunCollector();
    const leaf = RunnableLambda.from((x: number) => x, { name: 'leaf' });
    const outer = RunnableLambda.from((x: number) => leaf.invoke(x), { name: 'outer' });

    await outer.invoke(1, { callbacks: [collector] });

    expect(collector.runs.map(shapeOf)).toEqual([{ type: 'chain', name: 'outer', children: [{ type: 'chain', name: 'leaf', children: [] }] }]);
  });
});
