import { getEventListeners } from 'node:events';
import {
  AbortError,
  FakeChatModel,
  RunnableLambda,
  RunTimeoutError,
  type RunnableConfig,
} from '../../lib';
import { delay } from '../helpers/trees';
import { InvariantChecker } from '../helpers/invariant';

const hang = (): Promise<never> => new Promise<never>(() => undefined);

function timersActive(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

describe('cancellation with signal', () => {
  it('rejects the top-level run with AbortError; every open run reports one error, children before parents', async () => {
    const checker = new InvariantChecker();
    const controller = new AbortController();
    const leaf = RunnableLambda.from(hang, { name: 'leaf' });
    const mid = RunnableLambda.from(() => Promise.all([leaf.invoke(undefined), leaf.invoke(undefined)]), { name: 'mid' });
    const top = RunnableLambda.from(() => mid.invoke(undefined), { name: 'top' });

    const pending = top.invoke(undefined, { callbacks: [checker], signal: controller.signal });
    await delay(5);
    controller.abort(new Error('client went away'));

    await expect(pending).rejects.toBeInstanceOf(AbortError);
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED', runName: 'top', cause: new Error('client went away') });
    expect(checker.runs.size).toBe(4);
    expect(checker.violations()).toEqual([]);
    expect(checker.open()).toEqual([]);
  });

  it('stops children at their next await: nothing new starts once the signal has aborted', async () => {
    const checker = new InvariantChecker();
    const controller = new AbortController();
    const started: string[] = [];
    const later = RunnableLambda.from(() => started.push('later'), { name: 'later' });
    const child = RunnableLambda.from(async () => {
      await delay(10);
      return later.invoke(undefined);
    }, { name: 'child' });
    const top = RunnableLambda.from(() => child.invoke(undefined), { name: 'top' });

    const pending = top.invoke(undefined, { callbacks: [checker], signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    await delay(20);

    expect(started).toEqual([]);
    expect([...checker.runs.values()].map((run) => run.name)).toEqual(['top', 'child']);
  });

  it('stops a streaming chat model between tokens', async () => {
    const checker = new InvariantChecker();
    const controller = new AbortController();
    const model = new FakeChatModel({ responses: ['a b c d e f g h'], tokenDelayMs: 2 });
    const chunks: string[] = [];

    await expect(
      (async () => {
        for await (const chunk of model.stream('x', { callbacks: [checker], signal: controller.signal })) {
          chunks.push(chunk.content);
          if (chunks.length === 2) controller.abort();
        }
      })(),
    ).rejects.toBeInstanceOf(AbortError);

    expect(chunks).toEqual(['a', ' b']);
    expect(checker.violations()).toEqual([]);
    expect(checker.open()).toEqual([]);
  });

  it('leaves no listener on a shared signal, and no MaxListenersExceededWarning, after 10,000 concurrent runs', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    const controller = new AbortController();
    const leaf = RunnableLambda.from(async (x: number) => {
      await delay(1);
      return x;
    }, { name: 'leaf' });
    const top = RunnableLambda.from((x: number) => leaf.invoke(x), { name: 'top' });
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, getEventListeners(controller.signal, 'abort').length)), 1);

    const outputs = await Promise.all(Array.from({ length: 10_000 }, (_, i) => top.invoke(i, { signal: controller.signal })));
    clearInterval(sampler);
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);

    expect(outputs).toHaveLength(10_000);
    expect(peak).toBeLessThanOrEqual(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});

describe('timeout in config', () => {
  it('rejects with RunTimeoutError (an AbortError, code TIMEOUT) for the run and every open run below it', async () => {
    const checker = new InvariantChecker();
    const leaf = RunnableLambda.from(hang, { name: 'leaf' });
    const top = RunnableLambda.from(() => leaf.invoke(undefined), { name: 'top' });
    // The timers of the test before (10,000 runs with 1 ms delays) are still being reaped by Node's timer
    // lists: let them settle, or the count below moves for reasons that are not this run's.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const timersBefore = timersActive();

    const failure = await top.invoke(undefined, { callbacks: [checker], timeout: 20 }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(RunTimeoutError);
    expect(failure).toBeInstanceOf(AbortError);
    expect(failure).toMatchObject({ code: 'TIMEOUT', timeoutMs: 20, runName: 'top' });
    expect(checker.violations()).toEqual([]);
    expect(checker.open()).toEqual([]);
    expect(timersActive()).toBe(timersBefore);
  });

  it('lets a nested run shorten the deadline, never extend it', async () => {
    const leaf = RunnableLambda.from(hang, { name: 'leaf' });
    const shorter = RunnableLambda.from((_: unknown, config: RunnableConfig) => leaf.invoke(undefined, { ...config, timeout: 10 }), { name: 'shorter' });
    const longer = RunnableLambda.from(() => leaf.invoke(undefined, { timeout: 10_000 }), { name: 'longer' });

    await expect(shorter.invoke(undefined, { timeout: 5_000 })).rejects.toMatchObject({ name: 'RunTimeoutError', timeoutMs: 10, runName: 'leaf' });
    await expect(longer.invoke(undefined, { timeout: 15 })).rejects.toMatchObject({ name: 'RunTimeoutError', timeoutMs: 15, runName: 'longer' });
  });

  it('clears its timer when the run finishes in time', async () => {
    const timersBefore = timersActive();
    await expect(RunnableLambda.from((x: number) => x).invoke(1, { timeout: 60_000 })).resolves.toBe(1);
    expect(timersActive()).toBe(timersBefore);
  });

  describe('where `setTimeout` returns a number, as in browsers, Workers and Deno', () => {
    const realSetTimeout = globalThis.setTimeout;
    const realClearTimeout = globalThis.clearTimeout;
    let timers: Map<number, NodeJS.Timeout>;
    let cleared: number[];

    beforeEach(() => {
      timers = new Map();
      cleared = [];
      let nextId = 1;
      // The browser shape: a numeric id, cleared by that id; the timer itself is a real one.
      globalThis.setTimeout = ((callback: () => void, ms?: number) => {
        const id = nextId++;
        timers.set(id, realSetTimeout(callback, ms));
        return id;
      }) as unknown as typeof setTimeout;
      globalThis.clearTimeout = ((id: number) => {
        cleared.push(id);
        realClearTimeout(timers.get(id));
      }) as typeof clearTimeout;
    });

    afterEach(() => {
      globalThis.setTimeout = realSetTimeout;
      globalThis.clearTimeout = realClearTimeout;
      delete (globalThis as { Deno?: unknown }).Deno;
      for (const timer of timers.values()) realClearTimeout(timer);
    });

    it('ends a run past its deadline with RunTimeoutError, and clears the deadline of a run that ended in time', async () => {
      const slow = RunnableLambda.from(() => delay(200).then(() => 'late'), { name: 'slow' });
      await expect(slow.invoke(undefined, { timeout: 20 })).rejects.toMatchObject({ name: 'RunTimeoutError', timeoutMs: 20 });

      await expect(RunnableLambda.from((x: number) => x * 2).invoke(21, { timeout: 60_000 })).resolves.toBe(42);
      expect(cleared.length).toBeGreaterThan(0);
      expect(cleared.every((id) => typeof id === 'number' && timers.has(id))).toBe(true);
    });

    it("unreferences the deadline with Deno's `Deno.unrefTimer`, so that a deadline alone never keeps Deno running", async () => {
      const unrefTimer = jest.fn();
      (globalThis as { Deno?: unknown }).Deno = { unrefTimer };
      await expect(RunnableLambda.from((x: number) => x).invoke(1, { timeout: 60_000 })).resolves.toBe(1);
      expect(unrefTimer).toHaveBeenCalledTimes(1);
      expect(timers.has(unrefTimer.mock.calls[0]?.[0] as number)).toBe(true);
    });
  });
});
