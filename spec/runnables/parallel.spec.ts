import {
  AbortError,
  ConfigError,
  configure,
  RunCollector,
  RunnableGenerator,
  RunnableLambda,
  RunnableParallel,
  RunnableSequence,
  type CollectedRun,
  type PropagationMode,
  type RunnableConfig,
} from '../../lib';
import { InvariantChecker } from '../helpers/invariant';
import { expectLinked, shapeOf } from '../helpers/trees';

const modes: PropagationMode[] = ['async-local-storage', 'cls-hooked', 'explicit'];

afterAll(() => configure({ propagation: 'async-local-storage' }));

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const chunks: T[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** A promise with its resolve function, to hold a step until the test lets it go. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('RunnableParallel', () => {
  describe('.invoke()', () => {
    it('runs every step on the same input and returns their outputs by key', async () => {
      const parallel = RunnableParallel.from({ double: (x: number) => x * 2, text: async (x: number) => `#${x}` });
      await expect(parallel.invoke(4)).resolves.toEqual({ double: 8, text: '#4' });
    });

    it('runs the steps concurrently: each one starts before any ends', async () => {
      const started: string[] = [];
      const release = gate();
      const step = (name: string) =>
        RunnableLambda.from(async () => {
          started.push(name);
          await release.promise;
          return name;
        });
      const running = RunnableParallel.from({ a: step('a'), b: step('b'), c: step('c') }).invoke(0);
      await new Promise((resolve) => setImmediate(resolve));
      expect(started.sort()).toEqual(['a', 'b', 'c']);
      release.open();
      await expect(running).resolves.toEqual({ a: 'a', b: 'b', c: 'c' });
    });

    it('makes the parallel a run named RunnableMap and each step a child tagged map:key:<key>', async () => {
      const collector = new RunCollector();
      await RunnableParallel.from({ a: RunnableLambda.from((x: number) => x, { name: 'a' }), b: RunnableLambda.from((x: number) => x, { name: 'b' }) }).invoke(1, {
        callbacks: [collector],
        tags: ['top'],
      });
      const root = collector.runs[0] as CollectedRun;
      expect(root.name).toBe('RunnableMap');
      expect(root.tags).toEqual(['top']);
      expect(root.inputs).toEqual({ input: 1 });
      expect(root.children.map((run) => [run.name, [...run.tags].sort()])).toEqual([
        ['a', ['map:key:a', 'top']],
        ['b', ['map:key:b', 'top']],
      ]);
      expectLinked(root);
    });

    it('does not pass the map:key tag on to the runs below the step', async () => {
      const collector = new RunCollector();
      const inner = RunnableLambda.from((x: number) => x, { name: 'inner' });
      const step = RunnableLambda.from((x: number, config: RunnableConfig) => inner.invoke(x, config), { name: 'step' });
      await RunnableParallel.from({ key: step }).invoke(1, { callbacks: [collector] });
      const stepRun = (collector.runs[0] as CollectedRun).children[0] as CollectedRun;
      expect(stepRun.tags).toEqual(['map:key:key']);
      expect(stepRun.children[0]?.tags).toEqual([]);
    });

    it('honours maxConcurrency: never more steps running at once than allowed', async () => {
      let running = 0;
      let peak = 0;
      const step = RunnableLambda.from(async (x: number) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setImmediate(resolve));
        running--;
        return x;
      });
      const steps = Object.fromEntries(Array.from({ length: 7 }, (_, index) => [`s${index}`, step]));
      const output = await RunnableParallel.from(steps).invoke(1, { maxConcurrency: 2 });
      expect(Object.keys(output)).toHaveLength(7);
      expect(peak).toBe(2);
    });

    it('when a step fails, aborts the steps still running through their signal and fails once, with that error', async () => {
      const checker = new InvariantChecker();
      const collector = new RunCollector();
      const failure = new Error('step b failed');
      const seen: { aborted: boolean; reason: unknown }[] = [];
      const slow = RunnableLambda.from(
        (_x: number, config: RunnableConfig) =>
          new Promise<number>((_resolve, reject) => {
            config.signal?.addEventListener('abort', () => {
              seen.push({ aborted: true, reason: config.signal?.reason });
              reject(new Error('stopped'));
            });
          }),
        { name: 'slow' },
      );
      const failing = RunnableLambda.from(async () => {
        await Promise.resolve();
        throw failure;
      }, { name: 'failing' });
      const parallel = RunnableParallel.from({ a: slow, b: failing });

      await expect(parallel.invoke(1, { callbacks: [collector, checker] })).rejects.toBe(failure);

      expect(seen).toEqual([{ aborted: true, reason: failure }]);
      const root = collector.runs[0] as CollectedRun;
      expect(root.error).toBe(failure);
      expect(root.children.map((run) => [run.name, run.error instanceof AbortError || run.error === failure])).toEqual([
        ['slow', true],
        ['failing', true],
      ]);
      expect(checker.violations()).toEqual([]);
      expect(checker.open()).toEqual([]);
    });

    it('is cancelled with its signal: every running step rejects with AbortError and the run ends after them', async () => {
      const checker = new InvariantChecker();
      const controller = new AbortController();
      const started = gate();
      const waiting = RunnableLambda.from(() => {
        started.open();
        return new Promise<number>(() => undefined);
      }, { name: 'waiting' });
      const running = RunnableParallel.from({ a: waiting, b: waiting }).invoke(1, { callbacks: [checker], signal: controller.signal });
      await started.promise;
      controller.abort('user left');
      await expect(running).rejects.toBeInstanceOf(AbortError);
      expect(checker.violations()).toEqual([]);
      expect(checker.open()).toEqual([]);
      expect(checker.ended()).toBe(3);
    });

    it('runs a nested plain object of steps as a parallel of its own', async () => {
      const collector = new RunCollector();
      const output = await RunnableParallel.from({ outer: (x: number) => x, nested: { inner: (x: number) => x + 1 } }).invoke(1, { callbacks: [collector] });
      expect(output).toEqual({ outer: 1, nested: { inner: 2 } });
      expect((collector.runs[0] as CollectedRun).children.map((run) => run.name)).toEqual(['outer', 'RunnableMap']);
    });
  });

  describe('.batch()', () => {
    it('runs the parallel once per input, each a root run with its own children', async () => {
      const collector = new RunCollector();
      const parallel = RunnableParallel.from({ plus: (x: number) => x + 1, minus: (x: number) => x - 1 });
      await expect(parallel.batch([1, 10], { callbacks: [collector] })).resolves.toEqual([
        { plus: 2, minus: 0 },
        { plus: 11, minus: 9 },
      ]);
      expect(collector.runs.map((run) => [run.name, run.children.length])).toEqual([
        ['RunnableMap', 2],
        ['RunnableMap', 2],
      ]);
      collector.runs.forEach(expectLinked);
    });
  });

  describe('.stream()', () => {
    it('yields { key: chunk } objects as each step produces chunks', async () => {
      const words = RunnableGenerator.from(async function* (input: AsyncIterable<string>) {
        for await (const text of input) for (const word of text.split(' ')) yield word;
      });
      const chunks = await collect(RunnableParallel.from({ words, length: (text: string) => text.length }).stream('a b'));
      expect(chunks.filter((chunk) => 'words' in chunk)).toEqual([{ words: 'a' }, { words: 'b' }]);
      expect(chunks.filter((chunk) => 'length' in chunk)).toEqual([{ length: 3 }]);
    });

    it('ends its run with the chunks combined, after its children', async () => {
      const collector = new RunCollector();
      const checker = new InvariantChecker();
      await collect(RunnableParallel.from({ a: (x: number) => x, b: (x: number) => -x }).stream(2, { callbacks: [collector, checker] }));
      expect((collector.runs[0] as CollectedRun).outputs).toEqual({ a: 2, b: -2 });
      expect(checker.violations()).toEqual([]);
      expect(checker.open()).toEqual([]);
    });

    it('streams through a parallel at the end of a sequence', async () => {
      const chain = RunnableSequence.from([(x: number) => x + 1, { same: (x: number) => x, double: (x: number) => x * 2 }]);
      const chunks = await collect(chain.stream(1));
      expect(Object.assign({}, ...chunks)).toEqual({ same: 2, double: 4 });
    });

    it('when a step fails mid-stream, cancels the others and rethrows that error once the runs have ended', async () => {
      const checker = new InvariantChecker();
      const failure = new Error('broken stream');
      const broken = RunnableGenerator.from(async function* () {
        yield 'first';
        throw failure;
      });
      const endless = RunnableGenerator.from(async function* (_input: AsyncIterable<unknown>, config: RunnableConfig) {
        yield 'tick';
        await new Promise((_resolve, reject) => config.signal?.addEventListener('abort', () => reject(new Error('stopped'))));
      });
      await expect(collect(RunnableParallel.from({ broken, endless }).stream(0, { callbacks: [checker] }))).rejects.toBe(failure);
      expect(checker.violations()).toEqual([]);
      expect(checker.open()).toEqual([]);
    });

    it('when the consumer stops early, ends every run', async () => {
      const checker = new InvariantChecker();
      const counter = RunnableGenerator.from(async function* () {
        for (let index = 0; ; index++) yield index;
      });
      for await (const chunk of RunnableParallel.from({ a: counter, b: counter }).stream(0, { callbacks: [checker] })) {
        expect(chunk).toBeDefined();
        break;
      }
      expect(checker.violations()).toEqual([]);
      expect(checker.open()).toEqual([]);
    });
  });

  describe('bad input', () => {
    it.each([
      ['an empty object', {}, 'steps'],
      ['an array', [() => 1], 'steps'],
      ['a number', 42, 'steps'],
    ])('throws ConfigError for %s', (_label, steps, field) => {
      expect(() => RunnableParallel.from(steps as never)).toThrow(ConfigError);
      try {
        RunnableParallel.from(steps as never);
      } catch (error) {
        expect((error as ConfigError).field).toBe(field);
      }
    });

    it('throws ConfigError naming a step that is not a runnable, function or object', () => {
      expect(() => RunnableParallel.from({ ok: () => 1, bad: 'nope' } as unknown as Record<string, () => number>)).toThrow(/`steps\.bad`.*"nope"/);
    });

    it('throws ConfigError for an unknown option', () => {
      expect(() => RunnableParallel.from({ a: () => 1 }, { nmae: 'x' } as never)).toThrow(/Unknown option `nmae`/);
    });
  });

  describe.each(modes)("in '%s' mode", (mode) => {
    beforeEach(() => configure({ propagation: mode }));

    it('keeps 200 concurrent composed runs isolated: each tree holds only its own runs', async () => {
      const leaf = RunnableLambda.from((x: number) => x, { name: 'leaf' });
      const step = RunnableLambda.from(async (x: number, config: RunnableConfig) => {
        await new Promise((resolve) => setImmediate(resolve));
        return leaf.invoke(x, config);
      }, { name: 'step' });
      const composed = RunnableParallel.from({ a: step, b: step.withRetry({ backoff: { initialMs: 0 } }) });
      const collectors = Array.from({ length: 200 }, () => new RunCollector());
      const outputs = await Promise.all(collectors.map((collector, index) => composed.invoke(index, { callbacks: [collector], metadata: { index } })));
      expect(outputs.map((output) => output.a)).toEqual(collectors.map((_, index) => index));
      collectors.forEach((collector, index) => {
        expect(collector.runs).toHaveLength(1);
        const root = collector.runs[0] as CollectedRun;
        expectLinked(root);
        expect(shapeOf(root)).toEqual({
          type: 'chain',
          name: 'RunnableMap',
          children: [
            { type: 'chain', name: 'step', children: [{ type: 'chain', name: 'leaf', children: [] }] },
            { type: 'chain', name: 'step', children: [{ type: 'chain', name: 'step', children: [{ type: 'chain', name: 'leaf', children: [] }] }] },
          ],
        });
        expect((root.children[1]?.children[0]?.children[0] as CollectedRun).metadata).toEqual({ index });
      });
    });
  });
});
