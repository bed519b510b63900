import {
  configure,
  RunnableLambda,
  type CallbackHandler,
  type HandlerErrorReport,
  type RunnableConfig,
} from '../../lib';

/**
 * `tags`, `metadata` and `configurable` are snapshots taken at `invoke`: frozen, the same object for every
 * handler, the body and every child run. Nobody's later write (the caller's, a handler's) changes what
 * anyone else sees. Inputs and outputs are passed by reference, as in LangChain.
 */

interface Seen {
  readonly who: string;
  readonly metadata: unknown;
  readonly configurable?: unknown;
  readonly tags: unknown;
}

function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('RunnableConfig snapshots', () => {
  const reports: HandlerErrorReport[] = [];
  beforeAll(() => configure({ onHandlerError: (report) => reports.push(report) }));
  afterAll(() => configure({ onHandlerError: undefined }));
  beforeEach(() => (reports.length = 0));

  it("keeps a run's values when the caller mutates its config object after invoke", async () => {
    const seen: Seen[] = [];
    const bodyMayRead = gate();
    const child = RunnableLambda.from((_: unknown, config: RunnableConfig) => {
      seen.push({ who: 'child', metadata: structuredClone(config.metadata), configurable: structuredClone(config.configurable), tags: [...(config.tags ?? [])] });
    }, { name: 'child' });
    const parent = RunnableLambda.from(async (_: unknown, config: RunnableConfig) => {
      await bodyMayRead.promise;
      seen.push({ who: 'body', metadata: structuredClone(config.metadata), configurable: structuredClone(config.configurable), tags: [...(config.tags ?? [])] });
      await child.invoke(undefined);
    }, { name: 'parent' });

    // One config object reused across requests, as a server might.
    const shared = { tags: ['a'], metadata: { tenant: 'A', user: { id: 1 } }, configurable: { model: 'small', limits: [1, 2] } };
    const requestA = parent.invoke(undefined, shared);
    shared.metadata.tenant = 'B';
    shared.metadata.user.id = 2;
    shared.configurable.model = 'large';
    shared.configurable.limits.push(3);
    shared.tags.push('b');
    bodyMayRead.open();
    await requestA;

    const expected = { metadata: { tenant: 'A', user: { id: 1 } }, configurable: { model: 'small', limits: [1, 2] }, tags: ['a'] };
    expect(seen).toEqual([
      { who: 'body', ...expected },
      { who: 'child', ...expected },
    ]);
  });

  it('gives every handler, the body and each child the same frozen objects, which a handler cannot change', async () => {
    const received: { who: string; metadata: unknown; tags: unknown }[] = [];
    const vandal: CallbackHandler = {
      name: 'vandal',
      handleChainStart(_s, _inputs, _runId, _parent, tags, metadata) {
        received.push({ who: 'vandal', metadata, tags });
        (metadata as Record<string, unknown>).tenant = 'hijacked';
        (tags as string[]).push('hijacked');
      },
    };
    const witness: CallbackHandler = {
      name: 'witness',
      handleChainStart(_s, _inputs, _runId, _parent, tags, metadata) {
        received.push({ who: 'witness', metadata, tags });
      },
    };
    const child = RunnableLambda.from((_: unknown, config: RunnableConfig) => {
      received.push({ who: 'child body', metadata: config.metadata, tags: config.tags });
    }, { name: 'child' });
    const parent = RunnableLambda.from(async (_: unknown, config: RunnableConfig) => {
      received.push({ who: 'body', metadata: config.metadata, tags: config.tags });
      await child.invoke(undefined);
    }, { name: 'parent' });

    const metadata = { tenant: 'A' };
    await parent.invoke(undefined, { callbacks: [vandal, witness], metadata, tags: ['t'] });

    expect(metadata).toEqual({ tenant: 'A' });
    for (const entry of received) {
      expect(entry.metadata).toEqual({ tenant: 'A' });
      expect(entry.tags).toEqual(['t']);
      expect(Object.isFrozen(entry.metadata)).toBe(true);
      expect(Object.isFrozen(entry.tags)).toBe(true);
    }
    // One snapshot for everyone: the same object, not equal copies.
    expect(new Set(received.map((entry) => entry.metadata)).size).toBe(1);
    // The vandal's writes failed (frozen objects throw in strict code) and were reported, once per run.
    expect(reports.map((report) => [report.handlerName, report.event])).toEqual([
      ['vandal', 'handleChainStart'],
      ['vandal', 'handleChainStart'],
    ]);
  });

  it('keeps a `__proto__` key of metadata as data, never as a prototype', async () => {
    const metadata = JSON.parse('{"__proto__": {"polluted": true}, "plain": 1}') as Record<string, unknown>;
    let seen: Readonly<Record<string, unknown>> | undefined;
    await RunnableLambda.from((_: unknown, config: RunnableConfig) => {
      seen = config.metadata;
    }).invoke(undefined, { metadata });
    expect(Object.getPrototypeOf(seen)).toBe(Object.prototype);
    expect(Object.keys(seen ?? {})).toEqual(['__proto__', 'plain']);
    expect((seen as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('passes inputs and outputs by reference, as LangChain does', async () => {
    const input = { question: 'why?' };
    const output = { answer: 'because' };
    let bodyInput: unknown;
    let handlerInput: unknown;
    let handlerOutput: unknown;
    const handler: CallbackHandler = {
      handleChainStart(_s, inputs) {
        handlerInput = inputs;
      },
      handleChainEnd(outputs) {
        handlerOutput = outputs;
      },
    };
    const result = await RunnableLambda.from((value: typeof input) => {
      bodyInput = value;
      return output;
    }).invoke(input, { callbacks: [handler] });
    expect(bodyInput).toBe(input);
    expect(handlerInput).toBe(input);
    expect(handlerOutput).toBe(output);
    expect(result).toBe(output);
  });
});
