import { AsyncLocalStorage } from 'node:async_hooks';
import { z } from 'zod';
import {
  AsyncCallbackHandler,
  awaitAllCallbacks,
  BaseCallbackHandler,
  CallbackManager,
  configure,
  dispatchCustomEvent,
  FakeChatModel,
  NoActiveRunError,
  RunCollector,
  RunnableGenerator,
  RunnableLambda,
  tool,
  type CollectedRun,
  type HandlerErrorReport,
  type LLMResult,
  type PropagationMode,
} from '../../lib';
import { delay, EventRecorder, shapeOf } from '../helpers/trees';

const UUID = expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

afterEach(() => {
  configure({ propagation: 'async-local-storage', onHandlerError: undefined });
  jest.restoreAllMocks();
});

describe('handler arguments (LangChain run-time order)', () => {
  it('calls handleChainStart and handleChainEnd with exactly the LangChain arguments', async () => {
    const handleChainStart = jest.fn();
    const handleChainEnd = jest.fn();
    const double = RunnableLambda.from((x: number) => x * 2, { name: 'double' });

    await double.invoke(21, { callbacks: [{ handleChainStart, handleChainEnd }], tags: ['t'], metadata: { m: 1 } });

    expect(handleChainStart).toHaveBeenCalledWith(
      { lc: 1, type: 'not_implemented', id: ['callscope', 'runnables', 'double'] },
      { input: 21 },
      UUID,
      undefined,
      ['t'],
      { m: 1 },
      undefined,
      'double',
    );
    const runId = handleChainStart.mock.calls[0][2] as string;
    expect(handleChainEnd).toHaveBeenCalledWith({ output: 42 }, runId, undefined, ['t']);
  });

  it('passes object inputs and outputs of chains as they are', async () => {
    const handleChainStart = jest.fn();
    const handleChainEnd = jest.fn();
    const swap = RunnableLambda.from(({ a, b }: { a: number; b: number }) => ({ a: b, b: a }), { name: 'swap' });

    await swap.invoke({ a: 1, b: 2 }, { callbacks: [{ handleChainStart, handleChainEnd }] });

    expect(handleChainStart.mock.calls[0][1]).toEqual({ a: 1, b: 2 });
    expect(handleChainEnd.mock.calls[0][0]).toEqual({ a: 2, b: 1 });
  });

  it('calls handleChainError with the error, the run id, the parent run id and the tags', async () => {
    const handleChainError = jest.fn();
    const failure = new Error('nope');
    const child = RunnableLambda.from(() => {
      throw failure;
    }, { name: 'child' });
    const parent = RunnableLambda.from(() => child.invoke(undefined), { name: 'parent' });
    const collector = new RunCollector();

    await expect(parent.invoke(undefined, { callbacks: [{ handleChainError }, collector], tags: ['x'] })).rejects.toBe(failure);

    const [parentRun] = collector.runs as [CollectedRun];
    const childRun = parentRun.children[0] as CollectedRun;
    expect(handleChainError).toHaveBeenNthCalledWith(1, failure, childRun.id, parentRun.id, ['x']);
    expect(handleChainError).toHaveBeenNthCalledWith(2, failure, parentRun.id, undefined, ['x']);
  });

  it('calls the chat model events with LangChain arguments and an LLMResult', async () => {
    const calls = {
      handleChatModelStart: jest.fn(),
      handleLLMNewToken: jest.fn(),
      handleLLMEnd: jest.fn(),
    };
    const model = new FakeChatModel({ responses: ['Hello there'], streaming: true });

    const message = await model.invoke('Hi', { callbacks: [calls], tags: ['chat'], metadata: { k: 'v' } });

    expect(message).toEqual({ role: 'ai', content: 'Hello there' });
    expect(calls.handleChatModelStart).toHaveBeenCalledWith(
      { lc: 1, type: 'not_implemented', id: ['callscope', 'chat_models', 'FakeChatModel'] },
      [[{ role: 'human', content: 'Hi' }]],
      UUID,
      undefined,
      expect.objectContaining({ invocation_params: expect.objectContaining({ model: 'fake-chat-model' }) }),
      ['chat'],
      // LangChain chat models add their ls_* entries to the run's metadata.
      { k: 'v', ls_provider: 'fake', ls_model_name: 'fake-chat-model', ls_model_type: 'chat' },
      'FakeChatModel',
    );
    const runId = calls.handleChatModelStart.mock.calls[0][2] as string;
    expect(calls.handleLLMNewToken.mock.calls).toEqual([
      ['Hello', { prompt: 0, completion: 0 }, runId, undefined, ['chat'], { chunk: { text: 'Hello', message: { role: 'ai', content: 'Hello' } } }],
      [' there', { prompt: 0, completion: 0 }, runId, undefined, ['chat'], { chunk: { text: ' there', message: { role: 'ai', content: ' there' } } }],
    ]);
    const result: LLMResult = { generations: [[{ text: 'Hello there', message: { role: 'ai', content: 'Hello there' } }]] };
    expect(calls.handleLLMEnd).toHaveBeenCalledWith(result, runId, undefined, ['chat']);
  });

  it('calls handleLLMStart with the messages as one prompt for handlers without handleChatModelStart', async () => {
    const handleLLMStart = jest.fn();
    const model = new FakeChatModel({ responses: ['ok'] });

    await model.invoke([
      { role: 'system', content: 'Be brief.' },
      { role: 'human', content: 'Hi' },
    ], { callbacks: [{ handleLLMStart }] });

    expect(handleLLMStart).toHaveBeenCalledTimes(1);
    expect(handleLLMStart.mock.calls[0][1]).toEqual(['System: Be brief.\nHuman: Hi']);
  });

  it('calls the tool events with the input as a JSON string', async () => {
    const handleToolStart = jest.fn();
    const handleToolEnd = jest.fn();
    const add = tool(({ a, b }) => a + b, { name: 'add', description: 'Adds', schema: z.object({ a: z.number(), b: z.number() }) });

    await add.invoke({ a: 1, b: 2 }, { callbacks: [{ handleToolStart, handleToolEnd }] });

    expect(handleToolStart).toHaveBeenCalledWith(
      { lc: 1, type: 'not_implemented', id: ['callscope', 'tools', 'add'] },
      '{"a":1,"b":2}',
      UUID,
      undefined,
      [],
      {},
      'add',
    );
    expect(handleToolEnd).toHaveBeenCalledWith(3, handleToolStart.mock.calls[0][2], undefined, []);
  });

  it('calls handleCustomEvent with name, data, the run id, tags and metadata', async () => {
    const handleCustomEvent = jest.fn();
    const step = RunnableLambda.from(async (x: number) => {
      await dispatchCustomEvent('progress', { done: 0.5 });
      return x;
    }, { name: 'step' });
    const collector = new RunCollector();

    await step.invoke(1, { callbacks: [{ handleCustomEvent }, collector], tags: ['a'], metadata: { m: 1 } });

    expect(handleCustomEvent).toHaveBeenCalledWith('progress', { done: 0.5 }, collector.runs[0]?.id, ['a'], { m: 1 });
  });
});

describe('dispatch order', () => {
  it('calls a synchronous handler at the event, before invoke() even returns its promise', async () => {
    const log: string[] = [];
    const handler = new (class extends BaseCallbackHandler {
      override handleChainStart() {
        log.push('start');
      }
    })();
    const lambda = RunnableLambda.from(() => log.push('body'));

    const pending = lambda.invoke(undefined, { callbacks: [handler] });
    log.push('returned');
    await pending;

    expect(log).toEqual(['start', 'body', 'returned']);
  });

  it('awaits async handlers, in registration order, before the run continues (the seed example)', async () => {
    const log: string[] = [];
    class TokenPrinter extends BaseCallbackHandler {
      override handleLLMNewToken(token: string) {
        log.push(`token:${token}`);
      }
    }
    class Sleeper extends AsyncCallbackHandler {
      override async handleLLMStart() {
        log.push('zzzz start');
        await delay(30);
        log.push('woke start');
      }
      override async handleLLMEnd() {
        log.push('zzzz end');
        await delay(30);
        log.push('woke end');
      }
    }
    const chat = new FakeChatModel({ responses: ["Why don't scientists"], streaming: true, callbacks: [new TokenPrinter(), new Sleeper()] });

    const result = await chat.invoke('Tell me a joke');
    log.push('resolved');

    expect(result.content).toBe("Why don't scientists");
    expect(log).toEqual(['zzzz start', 'woke start', 'token:Why', "token: don't", 'token: scientists', 'zzzz end', 'woke end', 'resolved']);
  });

  it('waits for one async handler before calling the next', async () => {
    const log: string[] = [];
    const slow = {
      async handleChainStart() {
        log.push('slow begins');
        await delay(20);
        log.push('slow ends');
      },
    };
    const fast = {
      handleChainStart() {
        log.push('fast');
      },
    };

    await RunnableLambda.from(() => log.push('body')).invoke(undefined, { callbacks: [slow, fast] });

    expect(log).toEqual(['slow begins', 'slow ends', 'fast', 'body']);
  });

  it('awaits a promise returned by a BaseCallbackHandler method like an async one', async () => {
    const log: string[] = [];
    const handler = new (class extends BaseCallbackHandler {
      override handleChainStart() {
        return delay(10).then(() => log.push('handler done'));
      }
    })();

    await RunnableLambda.from(() => log.push('body')).invoke(undefined, { callbacks: [handler] });

    expect(log).toEqual(['handler done', 'body']);
  });
});

describe('failing handlers', () => {
  it('reports a throwing handler once via console.warn naming it and the event, and keeps the result', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    class Broken extends BaseCallbackHandler {
      override handleChainStart(): void {
        throw new Error('tracer down');
      }
    }
    const broken = new Broken();
    const healthy = new RunCollector();
    const lambda = RunnableLambda.from((x: number) => x + 1, { name: 'inc' });

    await expect(lambda.invoke(1, { callbacks: [broken, healthy] })).resolves.toBe(2);
    await expect(lambda.invoke(2, { callbacks: [broken, healthy] })).resolves.toBe(3);

    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toEqual(expect.stringContaining('Broken'));
    expect(warn.mock.calls[0]?.[0]).toEqual(expect.stringContaining('handleChainStart'));
    expect(warn.mock.calls[0]?.[0]).toEqual(expect.stringContaining('tracer down'));
    expect(healthy.runs).toHaveLength(2);
  });

  it('reports a rejecting async handler the same way', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const handler = {
      name: 'RejectingMeter',
      async handleChainEnd() {
        await delay(1);
        throw new Error('meter offline');
      },
    };

    await expect(RunnableLambda.from(() => 'ok').invoke(undefined, { callbacks: [handler] })).resolves.toBe('ok');

    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toEqual(expect.stringMatching(/RejectingMeter.*handleChainEnd.*meter offline/));
  });

  it('sends reports to configure({ onHandlerError }) instead, with handler, event, run id and error', async () => {
    const reports: HandlerErrorReport[] = [];
    configure({ onHandlerError: (report) => reports.push(report) });
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const failure = new Error('x');
    const handler = {
      handleChainStart() {
        throw failure;
      },
    };
    const collector = new RunCollector();

    await RunnableLambda.from(() => 1, { name: 'one' }).invoke(undefined, { callbacks: [handler, collector] });

    expect(warn).not.toHaveBeenCalled();
    expect(reports).toEqual([{ handler, handlerName: 'anonymous handler', event: 'handleChainStart', runId: collector.runs[0]?.id, error: failure }]);
  });

  it.each([
    ['handleChainStart', 'sync'],
    ['handleChainEnd', 'sync'],
    ['handleChainStart', 'async'],
    ['handleChainEnd', 'async'],
  ] as const)('fails the run with the error of a raiseError handler thrown in %s (%s)', async (method, style) => {
    const failure = new Error(`${method} refused`);
    const handler = new (class extends BaseCallbackHandler {
      constructor() {
        super({ raiseError: true });
      }
    })() as BaseCallbackHandler & Record<string, unknown>;
    handler[method] = style === 'sync' ? () => {
      throw failure;
    } : async () => {
      await delay(1);
      throw failure;
    };
    const body = jest.fn(() => 'result');

    await expect(RunnableLambda.from(body).invoke(undefined, { callbacks: [handler] })).rejects.toBe(failure);

    expect(body).toHaveBeenCalledTimes(method === 'handleChainStart' ? 0 : 1);
  });

  it('closes the run for the other handlers when a raiseError handler fails the start', async () => {
    const strict = {
      raiseError: true,
      handleChainStart() {
        throw new Error('no');
      },
    };
    const recorder = new EventRecorder();

    await expect(RunnableLambda.from(() => 1).invoke(undefined, { callbacks: [recorder, strict] })).rejects.toThrow('no');

    expect(recorder.methods()).toEqual(['handleChainStart', 'handleChainError']);
  });
});

describe('flags', () => {
  const everything = async (handler: object) => {
    const model = new FakeChatModel({ responses: ['a b'], streaming: true });
    const search = tool(async ({ q }) => {
      await dispatchCustomEvent('seen', q);
      return (await model.invoke(q)).content;
    }, { name: 'search', description: 'd', schema: z.object({ q: z.string() }) });
    await RunnableLambda.from((q: string) => search.invoke({ q }), { name: 'chain' }).invoke('x', { callbacks: [handler] });
  };

  it.each([
    ['ignoreChain', ['handleChainStart', 'handleChainEnd']],
    ['ignoreLLM', ['handleChatModelStart', 'handleLLMNewToken', 'handleLLMEnd']],
    ['ignoreAgent', ['handleToolStart', 'handleToolEnd']],
    ['ignoreCustomEvent', ['handleCustomEvent']],
  ] as const)('%s skips exactly its events', async (flag, skipped) => {
    const all = new EventRecorder();
    const filtered = new EventRecorder();
    filtered[flag] = true;

    await everything(all);
    await everything(filtered);

    expect(filtered.methods()).toEqual(all.methods().filter((method) => !(skipped as readonly string[]).includes(method)));
    expect(all.methods()).toEqual(expect.arrayContaining([...skipped]));
  });
});

describe.each(['async-local-storage', 'cls-hooked'] as PropagationMode[])("handlers run outside the run's context ('%s')", (mode) => {
  beforeEach(() => configure({ propagation: mode }));

  it('a runnable invoked from a handler starts its own root run and never feeds the triggering run', async () => {
    const helper = RunnableLambda.from((x: string) => x, { name: 'helper' });
    const helperRuns: string[] = [];
    const sideEffects = {
      async handleChainStart(_s: unknown, _i: unknown, _id: string, _parent: string | undefined, _t: unknown, _m: unknown, _rt: unknown, name?: string) {
        if (name === 'helper') return;
        helperRuns.push(await helper.invoke('from handler'));
      },
    };
    const collector = new RunCollector();
    const leaf = RunnableLambda.from((x: number) => x, { name: 'leaf' });
    const top = RunnableLambda.from((x: number) => leaf.invoke(x), { name: 'top' });

    await top.invoke(1, { callbacks: [collector, sideEffects] });

    expect(helperRuns).toEqual(['from handler', 'from handler']);
    expect(collector.runs.map(shapeOf)).toEqual([
      { type: 'chain', name: 'top', children: [{ type: 'chain', name: 'leaf', children: [] }] },
    ]);
  });

  it('every token handler call is outside the model run, before and after an await, token after token', async () => {
    const helper = RunnableLambda.from((x: string) => x, { name: 'helper' });
    const helperParents: (string | undefined)[] = [];
    const spy = {
      handleChainStart(_s: unknown, _i: unknown, _id: string, parentRunId: string | undefined, _t: unknown, _m: unknown, _rt: unknown, name?: string) {
        if (name === 'helper') helperParents.push(parentRunId);
      },
    };
    const fromTokens = {
      async handleLLMNewToken(token: string) {
        await helper.invoke(token, { callbacks: [spy] });
        await delay(0);
        await helper.invoke(token, { callbacks: [spy] });
      },
    };
    const collector = new RunCollector();
    const model = new FakeChatModel({ responses: ['a b c'], streaming: true });
    const chain = RunnableLambda.from((x: string) => model.invoke(x), { name: 'chain' });

    await chain.invoke('hi', { callbacks: [collector, fromTokens] });

    // Each helper run is a root: no parent, and not in the model run's tree.
    expect(helperParents).toEqual(Array<undefined>(6).fill(undefined));
    expect(collector.runs.map(shapeOf)).toEqual([
      { type: 'chain', name: 'chain', children: [{ type: 'llm', name: 'FakeChatModel', children: [] }] },
    ]);
  });
});

describe('handlers keep the values of other AsyncLocalStorages', () => {
  it('sees the values the app set around the run, for start, token and end events', async () => {
    const request = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    const handler = {
      handleChainStart: () => void seen.push(request.getStore()),
      handleLLMNewToken: () => void seen.push(request.getStore()),
      handleLLMEnd: () => void seen.push(request.getStore()),
      handleChainEnd: () => void seen.push(request.getStore()),
    };
    const model = new FakeChatModel({ responses: ['a b'], streaming: true });
    const chain = RunnableLambda.from((x: string) => model.invoke(x), { name: 'chain' });

    await request.run('request-1', () => chain.invoke('hi', { callbacks: [handler] }));
    await request.run('request-2', () => chain.invoke('hi', { callbacks: [handler] }));

    expect(seen).toEqual([...Array<string>(5).fill('request-1'), ...Array<string>(5).fill('request-2')]);
  });

  it("sees a value the root run's body set before starting the runs below it (middleware inside a request run)", async () => {
    const user = new AsyncLocalStorage<string>();
    const seen: [string, string | undefined][] = [];
    const handler = {
      handleChainStart: (_s: unknown, _i: unknown, _id: string, _p: unknown, _t: unknown, _m: unknown, _rt: unknown, name?: string) =>
        void seen.push([`start ${name}`, user.getStore()]),
      handleLLMNewToken: (token: string) => void seen.push([`token ${token}`, user.getStore()]),
    };
    const model = new FakeChatModel({ responses: ['a b'], streaming: true });
    const route = RunnableLambda.from((x: string) => model.invoke(x), { name: 'route' });
    const request = RunnableLambda.from((x: string) => user.run('alice', () => route.invoke(x)), { name: 'request' });

    await request.invoke('hi', { callbacks: [handler] });

    expect(seen).toEqual([
      ['start request', undefined],
      ['start route', 'alice'],
      ['token a', 'alice'],
      ['token  b', 'alice'],
    ]);
  });
});

describe('dispatchCustomEvent()', () => {
  it('takes the run from context when no config is given', async () => {
    const collector = new RunCollector();
    const step = RunnableLambda.from(async () => {
      await delay(1);
      await dispatchCustomEvent('stage', 'one');
      return 'done';
    }, { name: 'step' });

    await step.invoke(undefined, { callbacks: [collector] });

    expect(collector.runs[0]?.events).toEqual([{ name: 'stage', data: 'one' }]);
  });

  it('throws NoActiveRunError outside any run', async () => {
    await expect(dispatchCustomEvent('lonely', 1)).rejects.toBeInstanceOf(NoActiveRunError);
    await expect(dispatchCustomEvent('lonely', 1)).rejects.toMatchObject({ code: 'NO_ACTIVE_RUN', name: 'NoActiveRunError' });
  });

  it("needs the config in 'explicit' mode, and works with it", async () => {
    configure({ propagation: 'explicit' });
    const collector = new RunCollector();
    const errors: unknown[] = [];
    const step = RunnableLambda.from(async (_: unknown, config) => {
      await dispatchCustomEvent('without', 1).catch((error: unknown) => errors.push(error));
      await dispatchCustomEvent('with', 2, config);
    }, { name: 'step' });

    await step.invoke(undefined, { callbacks: [collector] });

    expect(errors).toEqual([expect.any(NoActiveRunError)]);
    expect(collector.runs[0]?.events).toEqual([{ name: 'with', data: 2 }]);
  });
});

describe('awaitAllCallbacks()', () => {
  it('waits for handler calls of runs nobody awaited', async () => {
    const log: string[] = [];
    const slowForChild = {
      async handleChainEnd(outputs: { output?: unknown }) {
        if (outputs.output !== 'child') return;
        await delay(20);
        log.push('child end delivered');
      },
    };
    const child = RunnableLambda.from(() => 'child', { name: 'child' });
    const parent = RunnableLambda.from(() => {
      void child.invoke(undefined); // fire and forget
      return 'parent';
    }, { name: 'parent' });

    await parent.invoke(undefined, { callbacks: [slowForChild] });
    log.push('parent resolved');
    await awaitAllCallbacks();
    log.push('flushed');

    expect(log).toEqual(['parent resolved', 'child end delivered', 'flushed']);
  });
});

describe('CallbackManager', () => {
  it('links runs to its parentRunId when passed as callbacks', async () => {
    const collector = new RunCollector();
    const parentRunId = '0190a6b2-7f1c-7cc1-9a64-4b8f5cf0c0de';
    await RunnableLambda.from(() => 1, { name: 'child' }).invoke(undefined, {
      callbacks: new CallbackManager([collector], { parentRunId }),
    });
    expect(collector.runs[0]?.parentRunId).toBe(parentRunId);
  });

  it('adds handlers without duplicates and stays immutable', () => {
    const a = new RunCollector();
    const b = new RunCollector();
    const manager = new CallbackManager([a]);
    const more = manager.withHandlers([a, b]);
    expect(manager.handlers).toEqual([a]);
    expect(more.handlers).toEqual([a, b]);
    expect(more.withHandlers([b])).toBe(more);
  });
});

describe('dispatchCustomEvent() with a copied config', () => {
  it.each(['async-local-storage', 'explicit'] as PropagationMode[])("reaches the run named by a spread copy of its config ('%s')", async (mode) => {
    configure({ propagation: mode });
    const collector = new RunCollector();
    const extra = new RunCollector();
    const step = RunnableLambda.from(async (_: unknown, config) => {
      await dispatchCustomEvent('copied', 1, { ...config, callbacks: (config.callbacks as CallbackManager).withHandlers([extra]) });
    }, { name: 'step' });

    await step.invoke(undefined, { callbacks: [collector] });

    expect(collector.runs[0]?.events).toEqual([{ name: 'copied', data: 1 }]);
  });
});

describe('wrapRunBody (callscope extension)', () => {
  it("runs each run's body inside the wrapper of every handler that defines one, first registered outermost", async () => {
    const log: string[] = [];
    const wrapper = (label: string) => ({
      name: label,
      handleChainStart: () => log.push(`${label} start`),
      wrapRunBody<T>(runId: string, body: () => T): T {
        log.push(`${label} enters ${runId.length === 36 ? 'run' : '?'}`);
        try {
          return body();
        } finally {
          log.push(`${label} leaves`);
        }
      },
    });

    await RunnableLambda.from(() => log.push('body'), { name: 'step' }).invoke(undefined, { callbacks: [wrapper('a'), wrapper('b')] });

    expect(log).toEqual(['a start', 'b start', 'a enters run', 'b enters run', 'body', 'b leaves', 'a leaves']);
  });

  it('wraps every step of a streamed body', async () => {
    let steps = 0;
    const counter = {
      name: 'counter',
      wrapRunBody<T>(_runId: string, body: () => T): T {
        steps++;
        return body();
      },
    };
    const gen = RunnableGenerator.from(async function* () {
      yield 1;
      yield 2;
    });

    const chunks: number[] = [];
    for await (const chunk of gen.stream(undefined, { callbacks: [counter] })) chunks.push(chunk);

    expect(chunks).toEqual([1, 2]);
    expect(steps).toBe(4); // creating the producer, then three next() calls (two chunks and the end)
  });
});
