import {
  AbortError,
  awaitAllCallbacks,
  BaseCallbackHandler,
  configure,
  FakeChatModel,
  getConfiguration,
  HandlerTimeoutError,
  RunnableLambda,
  RunTimeoutError,
  type HandlerErrorReport,
} from '../../lib';
import { InvariantChecker } from '../helpers/invariant';

/**
 * Faults found by trying callscope as an adversarial user would (issue 10, part A): each case here failed
 * before its fix. Exit paths are in `exit-paths.spec.ts`.
 */

afterEach(() => {
  configure({ onHandlerError: undefined, handlerTimeoutMs: undefined, callbacks: 'blocking', maxQueuedEvents: 10_000 });
  jest.restoreAllMocks();
  jest.useRealTimers();
});

const double = RunnableLambda.from((x: number) => x * 2, { name: 'double' });
const never = (): Promise<void> => new Promise<void>(() => undefined);
const hang = (): Promise<never> => new Promise<never>(() => undefined);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

const unprintable: [string, () => unknown][] = [
  ['Object.create(null)', () => Object.create(null) as unknown],
  ['an object whose toString throws', () => ({ toString: () => { throw new Error('no string'); } })],
  ['a revoked Proxy', revokedProxy],
];

/** Collects unhandled rejections while a test runs: none may happen. */
function watchUnhandled(): { readonly reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = [];
  const listener = (reason: unknown) => reasons.push(reason);
  process.on('unhandledRejection', listener);
  return { reasons, stop: () => process.off('unhandledRejection', listener) };
}

describe('a handler that throws an unprintable value (no onHandlerError)', () => {
  it.each(unprintable)('blocking: %s leaves the result unchanged and is reported in one warning', async (label, make) => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const name = `Unprintable blocking ${label}`;
    const handler = { name, handleChainStart: () => { throw make(); } };

    await expect(double.invoke(2, { callbacks: [handler] })).resolves.toBe(4);

    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain(`Handler \`${name}\` threw in handleChainStart`);
  });

  it.each(unprintable)('background: %s never crashes and the lane keeps delivering', async (label, make) => {
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const unhandled = watchUnhandled();
    configure({ callbacks: 'background', maxQueuedEvents: 2 });
    const ended: number[] = [];
    const handler = {
      name: `Unprintable background ${label}`,
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the point of the test
      handleChainStart: () => Promise.reject(make()),
      handleChainEnd: (outputs: { output?: unknown }) => void ended.push(outputs.output as number),
    };

    // Six runs through a queue of two: a stuck lane would stop the later runs at backpressure.
    const outputs = await Promise.all([1, 2, 3, 4, 5, 6].map((x) => double.invoke(x, { callbacks: [handler] })));
    await awaitAllCallbacks();
    unhandled.stop();

    expect(outputs).toEqual([2, 4, 6, 8, 10, 12]);
    expect(ended).toEqual([2, 4, 6, 8, 10, 12]);
    expect(unhandled.reasons).toEqual([]);
  });
});

describe('backpressure with a background handler that invokes runnables (LLM-as-judge)', () => {
  async function judgeEveryRun(runs: number): Promise<{ outputs: number; judged: number; traced: number }> {
    configure({ callbacks: 'background' });
    let traced = 0;
    let judged = 0;
    const tracer = { name: 'JudgeTracer', handleChainEnd: () => void traced++ };
    const judge = RunnableLambda.from(async (x: number) => x % 2 === 0, { name: 'judge' });
    const evaluator = {
      name: 'Evaluator',
      async handleChainEnd(outputs: { output?: unknown }) {
        await judge.invoke(outputs.output as number, { callbacks: [tracer] });
        judged++;
      },
    };
    const app = RunnableLambda.from((x: number) => x, { name: 'app' });

    const outputs = await Promise.all(Array.from({ length: runs }, (_, i) => app.invoke(i, { callbacks: [evaluator] })));
    await awaitAllCallbacks();
    return { outputs: outputs.length, judged, traced };
  }

  it('completes and judges all of 12,000 concurrent runs with default settings', async () => {
    await expect(judgeEveryRun(12_000)).resolves.toEqual({ outputs: 12_000, judged: 12_000, traced: 12_000 });
  }, 60_000);

  it('completes and judges all of 1,000 concurrent runs with maxQueuedEvents: 100', async () => {
    configure({ maxQueuedEvents: 100 });
    await expect(judgeEveryRun(1_000)).resolves.toEqual({ outputs: 1_000, judged: 1_000, traced: 1_000 });
  }, 60_000);
});

describe('aborting a signal', () => {
  it('ends a child stream that was started and dropped without return(); the parent does not hang', async () => {
    const checker = new InvariantChecker();
    const controller = new AbortController();
    const model = new FakeChatModel({ responses: ['one two three four'], streaming: true });
    let firstChunk: () => void = () => undefined;
    const gotFirstChunk = new Promise<void>((resolve) => (firstChunk = resolve));
    const top = RunnableLambda.from(async () => {
      const iterator = model.stream('x')[Symbol.asyncIterator]();
      await iterator.next();
      firstChunk();
      return hang(); // the iterator is abandoned, never returned
    }, { name: 'top' });

    const pending = top.invoke(undefined, { callbacks: [checker], signal: controller.signal });
    await gotFirstChunk;
    controller.abort(new Error('client went away'));

    await expect(pending).rejects.toBeInstanceOf(AbortError);
    expect([...checker.runs.values()].map((run) => run.name)).toEqual(['top', 'FakeChatModel']);
    expect(checker.violations()).toEqual([]);
    expect(checker.open()).toEqual([]);
  });

  it('makes a dropped stream throw AbortError when it is pulled again, without a second error event', async () => {
    const errors: string[] = [];
    const controller = new AbortController();
    const model = new FakeChatModel({ responses: ['one two three'], streaming: true });
    const iterator = model.stream('x', { callbacks: [{ handleLLMError: (_e: unknown, runId: string) => void errors.push(runId) }], signal: controller.signal })[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort();
    await awaitAllCallbacks();
    expect(errors).toHaveLength(1);

    await expect(iterator.next()).rejects.toBeInstanceOf(AbortError);
    expect(errors).toHaveLength(1);
  });

  it('checks the signal again after an async start handler: the body never runs under an aborted signal', async () => {
    const checker = new InvariantChecker();
    const controller = new AbortController();
    const aborter = { async handleChainStart() { await Promise.resolve(); controller.abort(); } };
    let ran = false;
    const body = RunnableLambda.from((x: number) => { ran = true; return x; }, { name: 'body' });

    await expect(body.invoke(1, { callbacks: [aborter, checker], signal: controller.signal })).rejects.toBeInstanceOf(AbortError);

    expect(ran).toBe(false);
    expect(checker.violations()).toEqual([]);
    expect(checker.open()).toEqual([]);
  });

  it('checks the signal again after an async start handler of a stream: nothing is produced', async () => {
    const controller = new AbortController();
    const aborter = { async handleLLMStart() { await Promise.resolve(); controller.abort(); } };
    const tokens: string[] = [];
    const model = new FakeChatModel({ responses: ['a b c'], streaming: true });
    const consume = async () => {
      for await (const chunk of model.stream('x', { callbacks: [aborter, { handleLLMNewToken: (t: string) => void tokens.push(t) }], signal: controller.signal })) {
        tokens.push(`chunk ${chunk.content}`);
      }
    };

    await expect(consume()).rejects.toBeInstanceOf(AbortError);
    expect(tokens).toEqual([]);
  });
});

describe('time limits above 2,147,483,647 ms (the largest delay Node timers take)', () => {
  it('never ends a run early for timeout: 3e9', async () => {
    const slow = RunnableLambda.from(async (x: number) => { await sleep(15); return x; }, { name: 'slow' });
    await expect(slow.invoke(1, { timeout: 3e9 })).resolves.toBe(1);
  });

  it('fires timeout: 3e9 exactly when it passes, not before', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] });
    const leaf = RunnableLambda.from(hang, { name: 'leaf' });
    let outcome: unknown;
    void leaf.invoke(undefined, { timeout: 3e9 }).catch((error: unknown) => (outcome = error));

    await jest.advanceTimersByTimeAsync(3e9 - 1);
    expect(outcome).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(outcome).toBeInstanceOf(RunTimeoutError);
    expect(outcome).toMatchObject({ timeoutMs: 3e9 });
  });

  it('never abandons a handler call early for handlerTimeoutMs: 3e9, on the handler or in configure', async () => {
    const reports: HandlerErrorReport[] = [];
    configure({ onHandlerError: (report) => reports.push(report) });
    const own = { name: 'own', handlerTimeoutMs: 3e9, handleChainStart: () => sleep(15) };
    await expect(double.invoke(1, { callbacks: [own] })).resolves.toBe(2);

    configure({ handlerTimeoutMs: 3e9 });
    const configured = { name: 'configured', handleChainStart: () => sleep(15) };
    await expect(double.invoke(1, { callbacks: [configured] })).resolves.toBe(2);

    expect(reports).toEqual([]);
  });
});

describe('serial handlers with handlerTimeoutMs', () => {
  it('never have two calls in flight: a call abandoned by its run still holds the handler until it settles', async () => {
    const reports: HandlerErrorReport[] = [];
    configure({ onHandlerError: (report) => reports.push(report) });
    let inFlight = 0;
    let peak = 0;
    const order: number[] = [];
    let allCalled: () => void = () => undefined;
    const allCallsSettled = new Promise<void>((resolve) => (allCalled = resolve));
    const slowSerial = new (class SlowSerial extends BaseCallbackHandler {
      constructor() {
        super({ serial: true, handlerTimeoutMs: 10 });
      }
      override async handleChainStart(_s: unknown, inputs: { input?: unknown }) {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await sleep(30);
        order.push(inputs.input as number);
        inFlight--;
        if (order.length === 3) allCalled();
      }
    })();

    const outputs = await Promise.all([1, 2, 3].map((x) => double.invoke(x, { callbacks: [slowSerial] })));
    await allCallsSettled; // the runs stopped waiting at 10 ms; the calls still happen, one after another

    expect(outputs).toEqual([2, 4, 6]);
    expect(peak).toBe(1);
    expect(order).toEqual([1, 2, 3]);
    expect(reports.map((report) => report.error)).toEqual([
      expect.any(HandlerTimeoutError),
      expect.any(HandlerTimeoutError),
      expect.any(HandlerTimeoutError),
    ]);
  });
});

describe('a handler that never settles, with default settings', () => {
  it('does not hang the run: a blocking call is abandoned after the default 30,000 ms and reported', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] });
    const reports: HandlerErrorReport[] = [];
    configure({ onHandlerError: (report) => reports.push(report) });
    expect(getConfiguration().handlerTimeoutMs).toBeUndefined(); // the default
    let result: number | undefined;
    void double.invoke(21, { callbacks: [{ name: 'Hangs', handleChainStart: never }] }).then((value) => (result = value));

    await jest.advanceTimersByTimeAsync(29_999);
    expect(result).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);

    expect(result).toBe(42);
    expect(reports.map((report) => report.error)).toEqual([expect.objectContaining({ name: 'HandlerTimeoutError', timeoutMs: 30_000 })]);
  });

  it('lets handlerTimeoutMs: Infinity turn the limit off', () => {
    expect(configure({ handlerTimeoutMs: Infinity }).handlerTimeoutMs).toBe(Infinity);
  });
});

describe('the default warning', () => {
  it('says a timed-out handler timed out (not "threw"), in well-formed sentences', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const late = { name: 'Late', handlerTimeoutMs: 5, handleChainEnd: never };

    await expect(double.invoke(1, { callbacks: [late] })).resolves.toBe(2);

    const message = String(warn.mock.calls[0]?.[0]);
    expect(message).toContain('Handler `Late` timed out in handleChainEnd');
    expect(message).not.toContain('threw');
    expect(message).not.toMatch(/\.\./);
  });

  it('is printed once per handler class and event, however many instances fail', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    class PerRequest extends BaseCallbackHandler {
      override handleChainEnd() {
        throw new Error('cannot write');
      }
    }

    for (let i = 0; i < 50; i++) await double.invoke(i, { callbacks: [new PerRequest()] });

    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain('Handler `PerRequest` threw in handleChainEnd');
  });
});

describe('a handler method deleted after first use', () => {
  it('is treated as not listening: no call, no report', async () => {
    const reports: HandlerErrorReport[] = [];
    configure({ onHandlerError: (report) => reports.push(report) });
    const ends: number[] = [];
    const fickle: { name: string; handleChainStart?: () => void; handleChainEnd: (o: { output?: unknown }) => void } = {
      name: 'Fickle',
      handleChainStart: () => undefined,
      handleChainEnd: (outputs) => void ends.push(outputs.output as number),
    };
    const callbacks = [fickle];

    await double.invoke(1, { callbacks });
    delete fickle.handleChainStart;
    await expect(double.invoke(2, { callbacks })).resolves.toBe(4);

    expect(ends).toEqual([2, 4]);
    expect(reports).toEqual([]);
  });
});
