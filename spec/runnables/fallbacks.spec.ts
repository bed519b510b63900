import {
  AbortError,
  ConfigError,
  configure,
  RunCollector,
  RunnableGenerator,
  RunnableLambda,
  RunnableWithFallbacks,
  RunTimeoutError,
  type CollectedRun,
  type PropagationMode,
  type RunnableConfig,
} from '../../lib';
import { InvariantChecker } from '../helpers/invariant';
import { expectLinked } from '../helpers/trees';

const modes: PropagationMode[] = ['async-local-storage', 'cls-hooked', 'explicit'];

afterAll(() => configure({ propagation: 'async-local-storage' }));

class RateLimitError extends Error {}

const failWith = (error: unknown, name = 'failing') =>
  RunnableLambda.from(
    (): string => {
      throw error;
    },
    { name },
  );

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const chunks: T[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('Runnable.withFallbacks()', () => {
  describe('.invoke()', () => {
    it('returns the output of the runnable when it succeeds, without trying the fallbacks', async () => {
      const fallback = jest.fn(() => 'fallback');
      await expect(RunnableLambda.from(() => 'primary').withFallbacks([fallback]).invoke(undefined)).resolves.toBe('primary');
      expect(fallback).not.toHaveBeenCalled();
    });

    it('tries the fallbacks in order, each a child run of a RunnableWithFallbacks run', async () => {
      const collector = new RunCollector();
      const chain = failWith(new Error('one'), 'primary').withFallbacks([failWith(new Error('two'), 'second'), RunnableLambda.from(() => 'ok', { name: 'third' })]);
      await expect(chain.invoke(undefined, { callbacks: [collector] })).resolves.toBe('ok');
      const root = collector.runs[0] as CollectedRun;
      expect(root.name).toBe('RunnableWithFallbacks');
      expect(root.children.map((run) => [run.name, run.error === undefined])).toEqual([
        ['primary', false],
        ['second', false],
        ['third', true],
      ]);
      expectLinked(root);
    });

    it("fails with the first runnable's error when all fail", async () => {
      const first = new Error('first');
      await expect(failWith(first).withFallbacks([failWith(new Error('second'))]).invoke(undefined)).rejects.toBe(first);
    });

    it('falls back only on the errors listed in exceptionsToHandle', async () => {
      const fatal = new TypeError('fatal');
      const fallback = jest.fn(() => 'fallback');
      await expect(failWith(fatal).withFallbacks([fallback], { exceptionsToHandle: [RateLimitError] }).invoke(undefined)).rejects.toBe(fatal);
      expect(fallback).not.toHaveBeenCalled();
      await expect(failWith(new RateLimitError('slow down')).withFallbacks([fallback], { exceptionsToHandle: [RateLimitError] }).invoke(undefined)).resolves.toBe('fallback');
    });

    it('does not fall back once its own signal has aborted', async () => {
      const controller = new AbortController();
      const fallback = jest.fn(() => 'fallback');
      const primary = RunnableLambda.from((): string => {
        controller.abort('user left');
        throw new Error('gave up');
      });
      await expect(primary.withFallbacks([fallback]).invoke(undefined, { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
      expect(fallback).not.toHaveBeenCalled();
    });

    it("falls back when the runnable's own deadline passes", async () => {
      const stuck = RunnableLambda.from(() => new Promise<string>(() => undefined)).withConfig({ timeout: 10 });
      const collector = new RunCollector();
      await expect(stuck.withFallbacks([() => 'fast']).invoke(undefined, { callbacks: [collector] })).resolves.toBe('fast');
      expect((collector.runs[0] as CollectedRun).children[0]?.error).toBeInstanceOf(RunTimeoutError);
    });
  });

  describe('.stream()', () => {
    it('falls back when the runnable fails before its first chunk', async () => {
      const broken = RunnableGenerator.from(async function* () {
        await Promise.resolve();
        throw new Error('no connection');
        yield 'never';
      });
      const backup = RunnableGenerator.from(async function* () {
        yield 'b';
        yield 'c';
      });
      await expect(collect(broken.withFallbacks([backup]).stream(undefined))).resolves.toEqual(['b', 'c']);
    });

    it('does not fall back once a chunk is out: the failure is the stream\'s', async () => {
      const checker = new InvariantChecker();
      const failure = new Error('cut off');
      const broken = RunnableGenerator.from(async function* () {
        yield 'a';
        throw failure;
      });
      const backup = jest.fn(() => 'backup');
      const chunks: string[] = [];
      await expect(
        (async () => {
          for await (const chunk of broken.withFallbacks([backup]).stream(undefined, { callbacks: [checker] })) chunks.push(chunk);
        })(),
      ).rejects.toBe(failure);
      expect(chunks).toEqual(['a']);
      expect(backup).not.toHaveBeenCalled();
      expect(checker.violations()).toEqual([]);
      expect(checker.open()).toEqual([]);
    });
  });

  describe('bad input', () => {
    it.each([
      [[], undefined, 'fallbacks'],
      ['nope', undefined, 'fallbacks'],
      [[42], undefined, 'fallbacks[0]'],
      [[() => 1], { exceptionsToHandle: [] }, 'exceptionsToHandle'],
      [[() => 1], { exceptionsToHandle: ['Error'] }, 'exceptionsToHandle'],
      [[() => 1], { handle: [Error] }, 'handle'],
    ])('throws ConfigError for fallbacks %j with options %j', (fallbacks, options, field) => {
      let caught: unknown;
      try {
        RunnableLambda.from(() => 1).withFallbacks(fallbacks as never, options as never);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).field).toBe(field);
    });

    it('throws ConfigError when what it wraps is not a runnable', () => {
      expect(() => new RunnableWithFallbacks('x' as never, [() => 1])).toThrow(ConfigError);
    });
  });

  describe.each(modes)("in '%s' mode", (mode) => {
    beforeEach(() => configure({ propagation: mode }));

    it('links what each try calls under that try', async () => {
      const collector = new RunCollector();
      const leaf = RunnableLambda.from((x: number) => x, { name: 'leaf' });
      const primary = RunnableLambda.from(async (x: number, config: RunnableConfig): Promise<number> => {
        await leaf.invoke(x, config);
        throw new Error('down');
      }, { name: 'primary' });
      const backup = RunnableLambda.from((x: number, config: RunnableConfig) => leaf.invoke(x, config), { name: 'backup' });
      await primary.withFallbacks([backup]).invoke(1, { callbacks: [collector] });
      const root = collector.runs[0] as CollectedRun;
      expectLinked(root);
      expect(root.children.map((run) => [run.name, run.children.map((child) => child.name)])).toEqual([
        ['primary', ['leaf']],
        ['backup', ['leaf']],
      ]);
    });
  });
});
