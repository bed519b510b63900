import {
  AbortError,
  ConfigError,
  configure,
  RunCollector,
  RunnableGenerator,
  RunnableLambda,
  RunnableRetry,
  RunTimeoutError,
  type CollectedRun,
  type PropagationMode,
  type RunnableConfig,
} from '../../lib';
import { InvariantChecker } from '../helpers/invariant';
import { expectLinked } from '../helpers/trees';

const NO_WAIT = { initialMs: 0, jitter: false };
const modes: PropagationMode[] = ['async-local-storage', 'cls-hooked', 'explicit'];

afterAll(() => configure({ propagation: 'async-local-storage' }));

/** A lambda that fails `failures` times, then returns its input. */
function failingTimes(failures: number, error: () => unknown = () => new Error('flaky')) {
  let calls = 0;
  const lambda = RunnableLambda.from(
    (x: number) => {
      calls++;
      if (calls <= failures) throw error();
      return x;
    },
    { name: 'flaky' },
  );
  return { lambda, calls: () => calls };
}

describe('Runnable.withRetry()', () => {
  describe('.invoke()', () => {
    it('returns the output of the first attempt that succeeds', async () => {
      const { lambda, calls } = failingTimes(2);
      await expect(lambda.withRetry({ stopAfterAttempt: 3, backoff: NO_WAIT }).invoke(5)).resolves.toBe(5);
      expect(calls()).toBe(3);
    });

    it('makes each attempt a child run, tagged retry:attempt:N from the second on, under a run named like the runnable', async () => {
      const collector = new RunCollector();
      const { lambda } = failingTimes(2);
      await lambda.withRetry({ backoff: NO_WAIT }).invoke(1, { callbacks: [collector] });
      const root = collector.runs[0] as CollectedRun;
      expect(root.name).toBe('flaky');
      expect(root.children.map((run) => [run.name, run.tags, run.error === undefined])).toEqual([
        ['flaky', [], false],
        ['flaky', ['retry:attempt:2'], false],
        ['flaky', ['retry:attempt:3'], true],
      ]);
      expectLinked(root);
    });

    it('fails with the error of the last attempt', async () => {
      let attempt = 0;
      const lambda = RunnableLambda.from(() => {
        throw new Error(`attempt ${++attempt}`);
      });
      await expect(lambda.withRetry({ stopAfterAttempt: 4, backoff: NO_WAIT }).invoke(0)).rejects.toThrow('attempt 4');
    });

    it('defaults to three attempts', async () => {
      const { lambda, calls } = failingTimes(10);
      await expect(lambda.withRetry({ backoff: NO_WAIT }).invoke(0)).rejects.toThrow('flaky');
      expect(calls()).toBe(3);
    });

    it('retries only errors retryIf accepts', async () => {
      const { lambda, calls } = failingTimes(5, () => new TypeError('fatal'));
      await expect(lambda.withRetry({ backoff: NO_WAIT, retryIf: (error) => !(error instanceof TypeError) }).invoke(0)).rejects.toBeInstanceOf(TypeError);
      expect(calls()).toBe(1);
    });

    it('calls onFailedAttempt with the error, the input and the attempt number', async () => {
      const seen: [string, number, number][] = [];
      const { lambda } = failingTimes(2);
      await lambda
        .withRetry({ backoff: NO_WAIT, onFailedAttempt: (error, input, attempt) => void seen.push([(error as Error).message, input, attempt]) })
        .invoke(9);
      expect(seen).toEqual([
        ['flaky', 9, 1],
        ['flaky', 9, 2],
      ]);
    });

    it('never retries an AbortError', async () => {
      const { lambda, calls } = failingTimes(5, () => new AbortError('inner', 'stop'));
      await expect(lambda.withRetry({ backoff: NO_WAIT }).invoke(0)).rejects.toBeInstanceOf(AbortError);
      expect(calls()).toBe(1);
    });

    it('waits with exponential backoff between attempts, capped at maxMs', async () => {
      jest.useFakeTimers();
      try {
        const startedAt: number[] = [];
        const lambda = RunnableLambda.from(() => {
          startedAt.push(Date.now());
          throw new Error('again');
        });
        const running = lambda.withRetry({ stopAfterAttempt: 4, backoff: { initialMs: 100, factor: 3, maxMs: 500, jitter: false } }).invoke(0);
        const settled = running.catch((error: unknown) => error);
        await jest.advanceTimersByTimeAsync(2_000);
        expect(await settled).toBeInstanceOf(Error);
        const waits = startedAt.slice(1).map((time, index) => time - (startedAt[index] as number));
        expect(waits).toEqual([100, 300, 500]);
      } finally {
        jest.useRealTimers();
      }
    });

    it.each([
      [0, [50, 100]],
      [0.5, [75, 150]],
    ])('with jitter (random %p), waits between half the computed wait and all of it: %p', async (draw, expected) => {
      jest.useFakeTimers();
      const random = jest.spyOn(Math, 'random').mockReturnValue(draw);
      try {
        const startedAt: number[] = [];
        const lambda = RunnableLambda.from(() => {
          startedAt.push(Date.now());
          throw new Error('again');
        });
        const settled = lambda.withRetry({ backoff: { initialMs: 100, factor: 2 } }).invoke(0).catch((error: unknown) => error);
        await jest.advanceTimersByTimeAsync(1_000);
        await settled;
        const waits = startedAt.slice(1).map((time, index) => time - (startedAt[index] as number));
        expect(waits).toEqual(expected);
      } finally {
        random.mockRestore();
        jest.useRealTimers();
      }
    });

    it('is cancelled during a wait by its signal: rejects with AbortError at once and leaves no timer', async () => {
      jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
      try {
        const checker = new InvariantChecker();
        const controller = new AbortController();
        let failedOnce!: () => void;
        const failed = new Promise<void>((resolve) => {
          failedOnce = resolve;
        });
        const lambda = RunnableLambda.from(() => {
          throw new Error('down');
        });
        const running = lambda
          .withRetry({ backoff: { initialMs: 60_000 }, onFailedAttempt: () => failedOnce() })
          .invoke(0, { signal: controller.signal, callbacks: [checker] });
        const outcome = running.catch((error: unknown) => error);
        await failed;
        // Once the microtasks have run, the retry is in its wait: one timer pending.
        await new Promise((resolve) => setImmediate(resolve));
        expect(jest.getTimerCount()).toBe(1);
        controller.abort('user left');
        expect(await outcome).toBeInstanceOf(AbortError);
        expect(jest.getTimerCount()).toBe(0);
        expect(checker.violations()).toEqual([]);
        expect(checker.open()).toEqual([]);
      } finally {
        jest.useRealTimers();
      }
    });

    it('honours its deadline during a wait: rejects with RunTimeoutError', async () => {
      const lambda = RunnableLambda.from(() => {
        throw new Error('down');
      });
      await expect(lambda.withRetry({ backoff: { initialMs: 60_000 } }).invoke(0, { timeout: 20 })).rejects.toBeInstanceOf(RunTimeoutError);
    });

    it('does not start an attempt once its signal has aborted', async () => {
      const controller = new AbortController();
      const { lambda, calls } = failingTimes(5);
      const retried = lambda.withRetry({
        backoff: NO_WAIT,
        onFailedAttempt: () => controller.abort('enough'),
      });
      await expect(retried.invoke(0, { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
      expect(calls()).toBe(1);
    });
  });

  describe('.stream()', () => {
    it('retries an attempt that failed before its first chunk', async () => {
      let attempt = 0;
      const words = RunnableGenerator.from(async function* () {
        if (++attempt < 2) throw new Error('not yet');
        yield 'a';
        yield 'b';
      });
      const chunks: string[] = [];
      for await (const chunk of words.withRetry({ backoff: NO_WAIT }).stream(undefined)) chunks.push(chunk);
      expect(chunks).toEqual(['a', 'b']);
      expect(attempt).toBe(2);
    });

    it('does not retry once a chunk is out: the failure is the stream\'s', async () => {
      let attempt = 0;
      const words = RunnableGenerator.from(async function* () {
        attempt++;
        yield 'a';
        throw new Error('mid-stream');
      });
      const chunks: string[] = [];
      await expect(
        (async () => {
          for await (const chunk of words.withRetry({ backoff: NO_WAIT }).stream(undefined)) chunks.push(chunk);
        })(),
      ).rejects.toThrow('mid-stream');
      expect(chunks).toEqual(['a']);
      expect(attempt).toBe(1);
    });
  });

  describe('bad input', () => {
    it.each([
      [{ stopAfterAttempt: 0 }, 'stopAfterAttempt', /`stopAfterAttempt`.*`0` \(number\)/],
      [{ stopAfterAttempt: 1.5 }, 'stopAfterAttempt', /whole number/],
      [{ retryIf: 'yes' }, 'retryIf', /`retryIf`.*function/],
      [{ attempts: 3 }, 'attempts', /Unknown option `attempts`/],
      [{ backoff: { initialMs: -1 } }, 'backoff.initialMs', /`backoff\.initialMs`/],
      [{ backoff: { delay: 1 } }, 'delay', /Unknown option `delay`/],
      [{ backoff: { jitter: 'full' } }, 'backoff.jitter', /boolean/],
    ])('throws ConfigError for %j', (options, field, message) => {
      const lambda = RunnableLambda.from((x: number) => x);
      let caught: unknown;
      try {
        lambda.withRetry(options as never);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).field).toBe(field);
      expect((caught as ConfigError).message).toMatch(message);
    });

    it('throws ConfigError when what it wraps is not a runnable', () => {
      expect(() => new RunnableRetry(42 as never)).toThrow(ConfigError);
    });
  });

  describe.each(modes)("in '%s' mode", (mode) => {
    beforeEach(() => configure({ propagation: mode }));

    it('links every attempt, and what each attempt calls, under the retry run', async () => {
      const collector = new RunCollector();
      const leaf = RunnableLambda.from((x: number) => x, { name: 'leaf' });
      let calls = 0;
      const step = RunnableLambda.from(async (x: number, config: RunnableConfig) => {
        const value = await leaf.invoke(x, config);
        if (++calls < 2) throw new Error('once');
        return value;
      }, { name: 'step' });
      await step.withRetry({ backoff: NO_WAIT }).invoke(1, { callbacks: [collector] });
      const root = collector.runs[0] as CollectedRun;
      expectLinked(root);
      expect(root.children.map((run) => [run.name, run.children.map((child) => [child.name, child.tags])])).toEqual([
        ['step', [['leaf', []]]],
        ['step', [['leaf', []]]],
      ]);
    });
  });
});
