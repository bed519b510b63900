import {
  BaseCallbackHandler,
  configure,
  HandlerTimeoutError,
  RunnableLambda,
  type HandlerErrorReport,
} from '../../lib';
import { InvariantChecker } from '../helpers/invariant';

afterEach(() => {
  configure({ onHandlerError: undefined, handlerTimeoutMs: undefined, callbacks: 'blocking' });
  jest.restoreAllMocks();
});

const double = RunnableLambda.from((x: number) => x * 2, { name: 'double' });
const never = (): Promise<void> => new Promise<void>(() => undefined);

describe('faulty handlers', () => {
  it.each([
    ['throws', () => { throw new Error('boom'); }],
    ['rejects', () => Promise.reject(new Error('boom'))],
  ])('a handler that %s cannot change the result; one report names handler, event, run and error', async (_label, fault) => {
    const reports: HandlerErrorReport[] = [];
    configure({ onHandlerError: (report) => reports.push(report) });
    const checker = new InvariantChecker();
    const faulty = { name: 'Faulty', handleChainStart: fault, handleChainEnd: fault };

    await expect(double.invoke(2, { callbacks: [faulty, checker] })).resolves.toBe(4);

    expect(reports.map((r) => [r.handlerName, r.event, r.runId, (r.error as Error).message])).toEqual([
      ['Faulty', 'handleChainStart', [...checker.runs.keys()][0], 'boom'],
      ['Faulty', 'handleChainEnd', [...checker.runs.keys()][0], 'boom'],
    ]);
    expect(checker.violations()).toEqual([]);
  });

  it('abandons a handler call that never settles after handlerTimeoutMs (set on the handler), reporting one HandlerTimeoutError', async () => {
    const reports: HandlerErrorReport[] = [];
    configure({ onHandlerError: (report) => reports.push(report) });
    const hanging = new (class Hanging extends BaseCallbackHandler {
      constructor() {
        super({ handlerTimeoutMs: 20 });
      }
      override handleChainStart() {
        return never();
      }
    })();

    await expect(double.invoke(3, { callbacks: [hanging] })).resolves.toBe(6);

    expect(reports).toHaveLength(1);
    expect(reports[0]?.error).toBeInstanceOf(HandlerTimeoutError);
    expect(reports[0]?.error).toMatchObject({ code: 'HANDLER_TIMEOUT', handlerName: 'Hanging', event: 'handleChainStart', timeoutMs: 20 });
  });

  it('applies configure({ handlerTimeoutMs }) to handlers without their own limit', async () => {
    const reports: HandlerErrorReport[] = [];
    configure({ onHandlerError: (report) => reports.push(report), handlerTimeoutMs: 15 });
    const slow = { name: 'slow', handleChainEnd: never };

    await expect(double.invoke(1, { callbacks: [slow] })).resolves.toBe(2);

    expect(reports.map((r) => r.error)).toEqual([expect.any(HandlerTimeoutError)]);
  });

  it('fails the run with HandlerTimeoutError when a raiseError handler times out', async () => {
    const strict = { name: 'strict', raiseError: true, handlerTimeoutMs: 10, handleChainStart: never };
    const checker = new InvariantChecker();

    await expect(double.invoke(1, { callbacks: [checker, strict] })).rejects.toBeInstanceOf(HandlerTimeoutError);

    expect(checker.violations()).toEqual([]);
    expect(checker.open()).toEqual([]);
  });

  it('prints one console.warn per handler and event name by default, naming both', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const faulty = { name: 'Noisy', handleChainStart: () => { throw new Error('a'); }, handleChainEnd: () => { throw new Error('b'); } };

    for (let i = 0; i < 5; i++) await double.invoke(i, { callbacks: [faulty] });

    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls.map((call) => String(call[0]))).toEqual([
      expect.stringMatching(/Noisy.*handleChainStart/),
      expect.stringMatching(/Noisy.*handleChainEnd/),
    ]);
  });

  it('keeps going when onHandlerError itself throws', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    configure({ onHandlerError: () => { throw new Error('reporter down'); } });
    await expect(double.invoke(1, { callbacks: [{ handleChainStart: () => { throw new Error('x'); } }] })).resolves.toBe(2);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('onHandlerError threw'), expect.any(Error));
  });
});

describe('serial handlers', () => {
  it('never have two calls in flight across 100 concurrent runs, and see each run’s events in order', async () => {
    let inFlight = 0;
    let overlaps = 0;
    const seen = new Map<string, string[]>();
    const record = async (event: string, runId: string) => {
      inFlight++;
      if (inFlight > 1) overlaps++;
      seen.set(runId, [...(seen.get(runId) ?? []), event]);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
    };
    const stateful = new (class Stateful extends BaseCallbackHandler {
      constructor() {
        super({ serial: true });
      }
      override handleChainStart(_s: unknown, _i: unknown, runId: string) {
        return record('start', runId);
      }
      override handleChainEnd(_o: unknown, runId: string) {
        return record('end', runId);
      }
    })();
    const child = RunnableLambda.from(async (x: number) => x, { name: 'child' });
    const parent = RunnableLambda.from(async (x: number) => child.invoke(x), { name: 'parent' });

    const outputs = await Promise.all(Array.from({ length: 100 }, (_, i) => parent.invoke(i, { callbacks: [stateful] })));

    expect(outputs).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(overlaps).toBe(0);
    expect(seen.size).toBe(200);
    expect([...seen.values()].every((events) => events.join() === 'start,end')).toBe(true);
  });

  it('shows the overlap a non-serial async handler suffers, which serial prevents', async () => {
    let inFlight = 0;
    let overlaps = 0;
    const reentrant = {
      async handleChainStart() {
        inFlight++;
        if (inFlight > 1) overlaps++;
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
      },
    };
    await Promise.all(Array.from({ length: 20 }, (_, i) => double.invoke(i, { callbacks: [reentrant] })));
    expect(overlaps).toBeGreaterThan(0);
  });
});
