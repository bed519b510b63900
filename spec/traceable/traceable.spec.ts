import {
  AbortError,
  AsyncCallbackHandler,
  ConfigError,
  FakeChatModel,
  LostCallbacksError,
  RunCollector,
  RunnableLambda,
  awaitAllCallbacks,
  configure,
  tool,
  traceable,
  getCurrentConfig,
  type RunnableConfig,
} from '../../lib';
import { z } from 'zod';
import { InvariantChecker } from '../helpers/invariant';
import { EventRecorder, shapeOf, expectLinked } from '../helpers/trees';

afterEach(() => {
  configure({ propagation: 'async-local-storage', onLostCallbacks: 'ignore' });
  jest.restoreAllMocks();
});

/** Runs `body` as the child of a root lambda given `handlers`, so traceable calls inside it are reported. */
function under<T>(handlers: object[], body: () => Promise<T> | T): Promise<T> {
  return RunnableLambda.from(() => body(), { name: 'root' }).invoke(undefined, { callbacks: handlers });
}

describe('traceable()', () => {
  describe('types', () => {
    it("keeps fn's parameters, `this` and return type", () => {
      const add = traceable((a: number, b: number) => a + b);
      const sum: number = add(1, 2);
      const greet = traceable(function (this: { greeting: string }, name: string): string {
        return `${this.greeting}, ${name}`;
      });
      const host = { greeting: 'hello', greet };
      const text: string = host.greet('Ada');
      const later = traceable(async (x: string) => x.length);
      const pending: Promise<number> = later('abc');
      // @ts-expect-error -- the parameter types are fn's
      add('1', 2);
      expect([sum, text]).toEqual([3, 'hello, Ada']);
      return pending.then((length) => expect(length).toBe(3));
    });
  });

  describe('inputs and outputs', () => {
    it('reports one argument as itself (wrapped as { input } for chains) and several as { args }', async () => {
      const recorder = new EventRecorder();
      const one = traceable((query: string) => query.toUpperCase(), { name: 'one' });
      const many = traceable((query: string, k: number) => ({ query, k }), { name: 'many' });
      const object = traceable((options: { q: string }) => options.q, { name: 'object' });
      await under([recorder], () => [one('hi'), many('q', 3), object({ q: 'z' })]);
      const starts = recorder.events.filter((event) => event.method === 'handleChainStart').map((event) => [event.args[7], event.args[1]]);
      expect(starts).toEqual([
        ['root', { input: undefined }],
        ['one', { input: 'hi' }],
        ['many', { args: ['q', 3] }],
        ['object', { q: 'z' }],
      ]);
      const ends = recorder.events.filter((event) => event.method === 'handleChainEnd').map((event) => event.args[0]);
      expect(ends.slice(0, 3)).toEqual([{ output: 'HI' }, { query: 'q', k: 3 }, { output: 'z' }]);
    });

    it('leaves out of the input a run config passed as an argument, which the function still receives', async () => {
      const recorder = new EventRecorder();
      const received: unknown[] = [];
      const answer = traceable(
        (question: string, config?: RunnableConfig) => {
          received.push(config);
          return question.length;
        },
        { name: 'answer' },
      );
      const pair = traceable((_config: RunnableConfig, a: number, b: number) => a + b, { name: 'pair' });
      const outer = RunnableLambda.from(
        (_: undefined, config: RunnableConfig) => [answer('why?', config), answer('no config'), pair(config, 1, 2), answer('current', getCurrentConfig())],
        { name: 'root' },
      );
      await outer.invoke(undefined, { callbacks: [recorder] });
      const starts = recorder.events.filter((event) => event.method === 'handleChainStart').map((event) => [event.args[7], event.args[1]]);
      expect(starts).toEqual([
        ['root', { input: undefined }],
        ['answer', { input: 'why?' }],
        ['answer', { input: 'no config' }],
        ['pair', { args: [1, 2] }],
        ['answer', { input: 'current' }],
      ]);
      // The function itself got the config: only what handlers see changed.
      expect(received[0]).toBeDefined();
      expect(received[1]).toBeUndefined();
      expect(received[2]).toBeDefined();
    });

    it('shapes what handlers see with processInputs and processOutputs, and leaves the call untouched', async () => {
      const collector = new RunCollector();
      const login = traceable((user: string, password: string) => ({ user, token: `t-${password}` }), {
        name: 'login',
        processInputs: ([user]) => ({ user }),
        processOutputs: (output) => ({ user: output.user, token: '[redacted]' }),
      });
      const result = await under([collector], () => login('ada', 'secret'));
      expect(result).toEqual({ user: 'ada', token: 't-secret' });
      const run = collector.runs[0]?.children[0];
      expect(run?.inputs).toEqual({ user: 'ada' });
      expect(run?.outputs).toEqual({ user: 'ada', token: '[redacted]' });
    });

    it('names runs after options.name, else fn.name, else traceable', async () => {
      const collector = new RunCollector();
      function namedFunction(): number {
        return 1;
      }
      await under([collector], () => [traceable(namedFunction)(), traceable(() => 2, { name: 'given' })(), traceable((() => () => 3)())()]);
      expect(collector.runs[0]?.children.map((run) => run.name)).toEqual(['namedFunction', 'given', 'traceable']);
    });

    it('refuses a non-function and unknown or invalid options with a ConfigError naming the field', () => {
      expect(() => traceable(42 as unknown as () => void)).toThrow(ConfigError);
      expect(() => traceable(() => 1, { runType: 'agent' as 'chain' })).toThrow(/runType/);
      expect(() => traceable(() => 1, { nmae: 'x' } as unknown as { name: string })).toThrow(/nmae/);
      expect(() => traceable(() => 1, { tags: 'a' as unknown as string[] })).toThrow(/tags/);
    });
  });

  describe('nesting', () => {
    it('nests runnables, tools, models and traceable functions called inside, with no config passed', async () => {
      const collector = new RunCollector();
      const checker = new InvariantChecker();
      const model = new FakeChatModel({ responses: ['Lisbon'] });
      const lookup = tool(async ({ city }: { city: string }) => `${city}: 20C`, { name: 'weather', description: 'Weather in a city', schema: z.object({ city: z.string() }) });
      const format = traceable((text: string) => `<${text}>`, { name: 'format' });
      const agent = traceable(async (question: string) => {
        const city = await model.invoke(question);
        const weather = await lookup.invoke({ city: city.content });
        return format(weather);
      }, { name: 'agent' });

      const answer = await agent.withConfig({ callbacks: [collector, checker] })('Where?');

      expect(answer).toBe('<Lisbon: 20C>');
      const root = collector.runs[0];
      if (root === undefined) throw new Error('no run');
      expect(shapeOf(root)).toEqual({
        type: 'chain',
        name: 'agent',
        children: [
          { type: 'llm', name: 'FakeChatModel', children: [] },
          { type: 'tool', name: 'weather', children: [] },
          { type: 'chain', name: 'format', children: [] },
        ],
      });
      expectLinked(root);
      expect(checker.violations()).toEqual([]);
      expect(checker.open()).toEqual([]);
    });

    it('keeps concurrent calls isolated from each other', async () => {
      const collector = new RunCollector();
      const leaf = traceable(async (i: number) => i * 2, { name: 'leaf' });
      const parent = traceable(async (i: number) => {
        await Promise.resolve();
        return leaf(i);
      }, { name: 'parent' });
      await under([collector], () => Promise.all(Array.from({ length: 20 }, (_, i) => parent(i))));
      const parents = collector.runs[0]?.children ?? [];
      expect(parents).toHaveLength(20);
      for (const run of parents) {
        expect(run.children).toHaveLength(1);
        expect(run.children[0]?.inputs).toEqual({ input: (run.inputs as { input: number }).input });
      }
    });
  });

  describe('synchronous functions', () => {
    it('stay synchronous: start and end reach synchronous handlers before the call returns', () => {
      const recorder = new EventRecorder();
      const double = traceable((x: number) => x * 2, { name: 'double' }).withConfig({ callbacks: [recorder] });
      const result = double(21);
      expect(result).toBe(42);
      expect(recorder.methods()).toEqual(['handleChainStart', 'handleChainEnd']);
    });

    it('throw synchronously the error fn threw, after an error event', () => {
      const recorder = new EventRecorder();
      const boom = new Error('boom');
      const fail = traceable((): number => {
        throw boom;
      }).withConfig({ callbacks: [recorder] });
      expect(() => fail()).toThrow(boom);
      expect(recorder.methods()).toEqual(['handleChainStart', 'handleChainError']);
      expect(recorder.events[1]?.args[0]).toBe(boom);
    });

    it('call async handlers in order without waiting for them; awaitAllCallbacks() does', async () => {
      const seen: string[] = [];
      class Slow extends AsyncCallbackHandler {
        override async handleChainStart(): Promise<void> {
          await Promise.resolve();
          seen.push('start');
        }
        override async handleChainEnd(): Promise<void> {
          seen.push('end');
        }
      }
      const sync = traceable((x: number) => x + 1).withConfig({ callbacks: [new Slow()] });
      expect(sync(1)).toBe(2);
      await awaitAllCallbacks();
      expect(seen).toEqual(['start', 'end']);
    });
  });

  describe('async functions', () => {
    it('wait for an async start handler before the body runs', async () => {
      const order: string[] = [];
      class Slow extends AsyncCallbackHandler {
        override async handleChainStart(): Promise<void> {
          await new Promise((resolve) => setImmediate(resolve));
          order.push('start handled');
        }
      }
      const body = traceable(async () => {
        order.push('body');
      }).withConfig({ callbacks: [new Slow()] });
      await body();
      expect(order).toEqual(['start handled', 'body']);
    });

    it('record the rejection and reject with the same error', async () => {
      const recorder = new EventRecorder();
      const boom = new Error('nope');
      const fail = traceable(async () => {
        throw boom;
      }).withConfig({ callbacks: [recorder] });
      await expect(fail()).rejects.toBe(boom);
      expect(recorder.methods()).toEqual(['handleChainStart', 'handleChainError']);
    });

    it('follow a promise returned by a function not declared async', async () => {
      const recorder = new EventRecorder();
      const later = traceable((x: number) => Promise.resolve(x * 3)).withConfig({ callbacks: [recorder] });
      await expect(later(2)).resolves.toBe(6);
      expect(recorder.events.map((event) => [event.method, event.args[0]])).toEqual([
        ['handleChainStart', expect.anything()],
        ['handleChainEnd', { output: 6 }],
      ]);
    });

    it('are cancelled by the signal of the run they are called in, the child reporting before its parent', async () => {
      const recorder = new EventRecorder();
      const controller = new AbortController();
      const stuck = traceable(() => new Promise<never>(() => undefined), { name: 'stuck' });
      const outer = RunnableLambda.from(() => {
        const call = stuck();
        controller.abort(new Error('stop'));
        return call;
      }, { name: 'outer' });
      await expect(outer.invoke(undefined, { callbacks: [recorder], signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
      const stuckRunId = recorder.events[1]?.args[2];
      expect(recorder.events.map((event) => event.method)).toEqual(['handleChainStart', 'handleChainStart', 'handleChainError', 'handleChainError']);
      expect(recorder.events[2]?.args[1]).toBe(stuckRunId);
    });

    it('when declared async, are cancelled mid-body by the signal of the run they are called in, the child reporting first', async () => {
      const recorder = new EventRecorder();
      const controller = new AbortController();
      const stuck = traceable(async () => new Promise<never>(() => undefined), { name: 'stuck' });
      const outer = RunnableLambda.from(() => {
        const call = stuck();
        controller.abort(new Error('stop'));
        return call;
      }, { name: 'outer' });
      await expect(outer.invoke(undefined, { callbacks: [recorder], signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
      const stuckRunId = recorder.events[1]?.args[2];
      expect(recorder.events.map((event) => event.method)).toEqual(['handleChainStart', 'handleChainStart', 'handleChainError', 'handleChainError']);
      expect(recorder.events[2]?.args[1]).toBe(stuckRunId);
    });

    it('reject with an AbortError and report nothing when the signal has already aborted', async () => {
      const recorder = new EventRecorder();
      let ran = false;
      const body = traceable(async () => {
        ran = true;
      }).withConfig({ callbacks: [recorder], signal: AbortSignal.abort(new Error('gone')) });
      await expect(body()).rejects.toBeInstanceOf(AbortError);
      expect(ran).toBe(false);
      expect(recorder.events).toEqual([]);
    });

    it('reject with the error of a raiseError start handler, after an error event, without running the body', async () => {
      const recorder = new EventRecorder();
      const refused = new Error('refused');
      const strict = { name: 'strict', raiseError: true, handleChainStart: (): Promise<void> => Promise.reject(refused) };
      let ran = false;
      const body = traceable(async () => {
        ran = true;
      }).withConfig({ callbacks: [recorder, strict] });
      await expect(body()).rejects.toBe(refused);
      expect(ran).toBe(false);
      expect(recorder.methods()).toEqual(['handleChainStart', 'handleChainError']);
    });
  });

  describe('streamed results', () => {
    it('keep the run of an async generator function open until consumed and report the chunks combined', async () => {
      const recorder = new EventRecorder();
      const inner = traceable((x: string) => x, { name: 'inner' });
      const words = traceable(async function* (count: number) {
        for (let i = 0; i < count; i++) yield inner(`w${i} `);
      }, { name: 'words' });
      const stream = words.withConfig({ callbacks: [recorder] })(3);
      expect(recorder.methods()).toEqual(['handleChainStart']);
      const chunks: string[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks).toEqual(['w0 ', 'w1 ', 'w2 ']);
      const end = recorder.events.at(-1);
      expect(end?.method).toBe('handleChainEnd');
      expect(end?.args[0]).toEqual({ output: 'w0 w1 w2 ' });
      // Each `inner` call ran in the stream's run, whoever consumed it.
      const wordsRunId = recorder.events[0]?.args[2];
      const innerParents = recorder.events.filter((event) => event.method === 'handleChainStart' && event.args[7] === 'inner').map((event) => event.args[3]);
      expect(innerParents).toEqual([wordsRunId, wordsRunId, wordsRunId]);
    });

    it('end normally with what was received when the consumer stops early', async () => {
      const recorder = new EventRecorder();
      let closed = false;
      const numbers = traceable(async function* () {
        try {
          for (let i = 1; ; i++) yield [i];
        } finally {
          closed = true;
        }
      }).withConfig({ callbacks: [recorder] });
      for await (const chunk of numbers()) if (chunk[0] === 2) break;
      expect(closed).toBe(true);
      expect(recorder.methods()).toEqual(['handleChainStart', 'handleChainEnd']);
      expect(recorder.events[1]?.args[0]).toEqual({ output: [1, 2] });
    });

    it('end with exactly one error event when the stream fails', async () => {
      const recorder = new EventRecorder();
      const boom = new Error('mid-stream');
      const failing = traceable(async function* () {
        yield 'a';
        throw boom;
      }).withConfig({ callbacks: [recorder] });
      const received: string[] = [];
      await expect(
        (async () => {
          for await (const chunk of failing()) received.push(chunk);
        })(),
      ).rejects.toBe(boom);
      expect(received).toEqual(['a']);
      expect(recorder.methods()).toEqual(['handleChainStart', 'handleChainError']);
    });

    it('trace an async iterable returned by a promise', async () => {
      const recorder = new EventRecorder();
      async function* letters(): AsyncGenerator<string> {
        yield 'x';
        yield 'y';
      }
      const later = traceable(async () => letters(), { name: 'later' }).withConfig({ callbacks: [recorder] });
      const chunks: string[] = [];
      for await (const chunk of await later()) chunks.push(chunk);
      expect(chunks).toEqual(['x', 'y']);
      expect(recorder.events.at(-1)?.args[0]).toEqual({ output: 'xy' });
    });

    it('trace a ReadableStream, ending when it is read to the end or cancelled', async () => {
      const recorder = new EventRecorder();
      const make = traceable((parts: string[]) => new ReadableStream<string>({
        start(controller) {
          for (const part of parts) controller.enqueue(part);
          controller.close();
        },
      }), { name: 'readable' }).withConfig({ callbacks: [recorder] });
      const reader = make(['a', 'b', 'c']).getReader();
      const read: string[] = [];
      for (;;) {
        const step = await reader.read();
        if (step.done) break;
        read.push(step.value);
      }
      expect(read).toEqual(['a', 'b', 'c']);
      expect(recorder.events.at(-1)?.args[0]).toEqual({ output: 'abc' });

      const cancelled = make(['a', 'b']).getReader();
      await cancelled.read();
      await cancelled.cancel();
      expect(recorder.methods().slice(2)).toEqual(['handleChainStart', 'handleChainEnd']);
      expect(recorder.events.at(-1)?.args[0]).toEqual({ output: 'a' });
    });
  });

  describe('run types', () => {
    it("'retriever' emits handleRetrieverStart/End with the query and documents as LangChain does", async () => {
      const recorder = new EventRecorder();
      const search = traceable(async (query: string) => [`doc about ${query}`, { pageContent: 'second', metadata: { score: 0.5 } }], {
        name: 'search',
        runType: 'retriever',
        metadata: { index: 'main' },
      });
      await under([recorder], () => search('cats'));
      const start = recorder.events.find((event) => event.method === 'handleRetrieverStart');
      expect(start?.args.slice(1, 2)).toEqual(['cats']);
      expect(start?.args[5]).toEqual({ index: 'main' });
      expect(start?.args[6]).toBe('search');
      const end = recorder.events.find((event) => event.method === 'handleRetrieverEnd');
      expect(end?.args[0]).toEqual([
        { pageContent: 'doc about cats', metadata: {} },
        { pageContent: 'second', metadata: { score: 0.5 } },
      ]);
      expect(end?.args[1]).toBe(start?.args[2]);
    });

    it("'retriever' errors reach handleRetrieverError, and ignoreRetriever silences all three", async () => {
      const recorder = new EventRecorder();
      const quiet = new EventRecorder({ ignoreRetriever: true });
      const search = traceable(async (_query: string): Promise<string[]> => {
        throw new Error('index down');
      }, { runType: 'retriever' });
      await expect(under([recorder, quiet], () => search('q'))).rejects.toThrow('index down');
      expect(recorder.methods()).toEqual(['handleChainStart', 'handleRetrieverStart', 'handleRetrieverError', 'handleChainError']);
      expect(quiet.methods()).toEqual(['handleChainStart', 'handleChainError']);
    });

    it("'tool' emits tool events with the input as a string", async () => {
      const recorder = new EventRecorder();
      const add = traceable((a: number, b: number) => a + b, { name: 'add', runType: 'tool' });
      await under([recorder], () => add(1, 2));
      const start = recorder.events.find((event) => event.method === 'handleToolStart');
      expect(start?.args[1]).toBe('{"args":[1,2]}');
      expect(recorder.events.find((event) => event.method === 'handleToolEnd')?.args[0]).toBe(3);
    });

    it("'llm' emits chat model events, and a token per streamed string chunk", async () => {
      const collector = new RunCollector();
      const complete = traceable(async function* (prompt: string) {
        yield `echo: `;
        yield prompt;
      }, { name: 'my-llm', runType: 'llm' });
      const chunks: string[] = [];
      await under([collector], async () => {
        for await (const chunk of complete('hi')) chunks.push(chunk);
      });
      const run = collector.runs[0]?.children[0];
      expect(run?.type).toBe('llm');
      expect(run?.inputs).toEqual({ messages: [[{ role: 'human', content: 'hi' }]] });
      expect(run?.tokens).toEqual(['echo: ', 'hi']);
      expect(run?.outputs).toEqual({ role: 'ai', content: 'echo: hi' });
    });
  });

  describe("in 'explicit' mode", () => {
    it('starts a root run unless given the config of the run to join with withConfig(config)', async () => {
      configure({ propagation: 'explicit' });
      const collector = new RunCollector();
      const child = traceable((x: number) => x + 1, { name: 'child' });
      const parent = RunnableLambda.from((x: number, config: RunnableConfig) => child(x) + child.withConfig(config)(x), { name: 'parent' });
      await parent.invoke(1, { callbacks: [collector] });
      expect(collector.runs.map((run) => [run.name, run.children.map((c) => c.name)])).toEqual([['parent', ['child']]]);
    });

    it('lets onLostCallbacks catch a traceable function that lost its parent', async () => {
      configure({ propagation: 'explicit', onLostCallbacks: 'throw' });
      const child = traceable((x: number) => x + 1, { name: 'child' });
      const parent = RunnableLambda.from((x: number) => child(x), { name: 'parent' });
      await expect(parent.invoke(1, { callbacks: [new RunCollector()] })).rejects.toBeInstanceOf(LostCallbacksError);
      await expect(parent.invoke(1, { callbacks: [new RunCollector()] })).rejects.toThrow(/`child`.*`parent`/);
    });

    it("names withConfig(config), not invoke(input, config), as the fix for a traceable function", async () => {
      configure({ propagation: 'explicit', onLostCallbacks: 'throw' });
      const child = traceable(async (x: number) => x + 1, { name: 'child' });
      const collector = new RunCollector();
      let caught: unknown;
      await RunnableLambda.from(async (x: number) => {
        caught = await child(x).catch((error: unknown) => error);
      }, { name: 'parent' }).invoke(1, { callbacks: [collector] });
      expect(caught).toBeInstanceOf(LostCallbacksError);
      expect(caught).toMatchObject({ childName: 'child', parentName: 'parent', parentRunId: collector.runs[0]?.id, callSite: expect.stringMatching(/traceable\.spec\.ts:\d+:\d+$/) });
      const message = (caught as LostCallbacksError).message;
      expect(message).toContain('Traceable function `child` was called without `config` inside run `parent`');
      expect(message).toContain('`child.withConfig(config)(...args)`');
      expect(message).toContain('`traceable(fn).withConfig(config)`');
      expect(message).not.toContain('invoke(input, config)');
    });

    it("warns with the same fix under onLostCallbacks: 'warn'", async () => {
      configure({ propagation: 'explicit', onLostCallbacks: 'warn' });
      const emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
      const child = traceable((x: number) => x + 1, { name: 'child' });
      await RunnableLambda.from((x: number) => child(x), { name: 'parent' }).invoke(1, { callbacks: [new RunCollector()] });
      const warned = emitWarning.mock.calls.filter((call) => call[1]?.code === 'CALLSCOPE_LOST_CALLBACKS').map((call) => String(call[0]));
      expect(warned).toHaveLength(1);
      expect(warned[0]).toContain('`child.withConfig(config)(...args)`');
    });
  });
});
