import { randomUUID } from 'node:crypto';
import { getEventListeners } from 'node:events';
import {
  configure,
  AbortError,
  BaseChatModel,
  ConfigError,
  EVENT_BUFFER_SIZE,
  RunnableLambda,
  RunTimeoutError,
  type AIMessageChunk,
  type CallbackHandlerLike,
  type ChatMessage,
  type RunnableConfig,
  type StreamEvent,
} from '../../lib';

/** A model that produces `limit` tokens (`word0 word1 ...`), counting what it produced; optionally fails. */
class CountingModel extends BaseChatModel {
  produced = 0;
  closed = false;
  constructor(
    private readonly limit: number,
    private readonly failAt?: number,
  ) {
    super({ name: 'CountingModel' });
  }
  override async *_streamChunks(_messages: readonly ChatMessage[], _config: RunnableConfig): AsyncGenerator<AIMessageChunk> {
    try {
      for (let i = 0; i < this.limit; i++) {
        if (i === this.failAt) throw new Error('model overloaded');
        this.produced++;
        yield { role: 'ai', content: `word${i} ` };
        await Promise.resolve();
      }
    } finally {
      this.closed = true;
    }
  }
}

/** A handler in `options.callbacks` that counts, per run, its starts and its ends or errors. */
function ledger(): { handler: CallbackHandlerLike; starts: Map<string, number>; ends: Map<string, number> } {
  const starts = new Map<string, number>();
  const ends = new Map<string, number>();
  const start = (runId: string): void => void starts.set(runId, (starts.get(runId) ?? 0) + 1);
  const end = (runId: string): void => void ends.set(runId, (ends.get(runId) ?? 0) + 1);
  const handler = {
    name: 'ledger',
    handleChainStart: (_s: unknown, _i: unknown, runId: string) => start(runId),
    handleChainEnd: (_o: unknown, runId: string) => end(runId),
    handleChainError: (_e: unknown, runId: string) => end(runId),
    handleChatModelStart: (_s: unknown, _m: unknown, runId: string) => start(runId),
    handleLLMEnd: (_o: unknown, runId: string) => end(runId),
    handleLLMError: (_e: unknown, runId: string) => end(runId),
  };
  return { handler, starts, ends };
}

function pipeline(model: BaseChatModel): RunnableLambda<string, string> {
  const inner = RunnableLambda.from(async (q: string) => (await model.invoke(q)).content, { name: 'inner' });
  const middle = RunnableLambda.from(async (q: string) => inner.invoke(q), { name: 'middle' });
  return RunnableLambda.from(async (q: string) => middle.invoke(q), { name: 'outer' });
}

/** Lets pending callbacks and promise chains run: a fixed number of event-loop turns, no clock involved. */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}


// Another spec file in the same worker may have left a different propagation mode or delivery behind.
beforeEach(() => configure({ propagation: 'async-local-storage', callbacks: 'blocking' }));

describe('Runnable.streamEvents() lifecycle', () => {
  describe('a consumer that stops early', () => {
    it('aborts the run tree and its model call, and every run still ends once for the other handlers', async () => {
      const model = new CountingModel(10_000);
      const { handler, starts, ends } = ledger();
      let tokens = 0;
      for await (const event of pipeline(model).streamEvents('q', { version: 'v2', callbacks: [handler] })) {
        if (event.event === 'on_chat_model_stream' && ++tokens === 3) break;
      }
      expect(model.closed).toBe(true);
      const producedAtStop = model.produced;
      expect(producedAtStop).toBeLessThan(10);
      await turns(5);
      expect(model.produced).toBe(producedAtStop);
      expect(starts.size).toBe(4);
      for (const [runId, count] of starts) {
        expect(count).toBe(1);
        expect(ends.get(runId)).toBe(1);
      }
    });

    it('stops the same way through return() on the iterator', async () => {
      const model = new CountingModel(10_000);
      const events = pipeline(model).streamEvents('q', { version: 'v2' });
      const first = await events.next();
      expect(first.value?.event).toBe('on_chain_start');
      await expect(events.return?.()).resolves.toEqual({ value: undefined, done: true });
      await expect(events.next()).resolves.toEqual({ value: undefined, done: true });
      expect(model.produced).toBeLessThan(10);
    });

    it('starts nothing when never iterated', async () => {
      const model = new CountingModel(5);
      const events = pipeline(model).streamEvents('q', { version: 'v2' });
      await events.return?.();
      expect(model.produced).toBe(0);
    });
  });

  describe('errors', () => {
    it('sends on_chat_model_error and on_chain_error with data.error before the stream rethrows', async () => {
      const seen: StreamEvent[] = [];
      let thrown: unknown;
      try {
        for await (const event of pipeline(new CountingModel(10, 2)).streamEvents('q', { version: 'v2' })) seen.push(event);
      } catch (error) {
        thrown = error;
      }
      expect((thrown as Error).message).toBe('model overloaded');
      const errors = seen.filter((e) => e.event.endsWith('_error'));
      expect(errors.map((e) => `${e.event} ${e.name}`)).toEqual([
        'on_chat_model_error CountingModel',
        'on_chain_error inner',
        'on_chain_error middle',
        'on_chain_error outer',
      ]);
      for (const event of errors) expect((event.data as { error: unknown }).error).toBe(thrown);
      expect(seen[seen.length - 1]?.event).toBe('on_chain_error');
    });

    it("applies the caller's signal: the stream ends with AbortError after the runs' error events", async () => {
      const controller = new AbortController();
      const seen: string[] = [];
      let thrown: unknown;
      try {
        for await (const event of pipeline(new CountingModel(10_000)).streamEvents('q', { version: 'v2', signal: controller.signal })) {
          seen.push(event.event);
          if (event.event === 'on_chat_model_stream') controller.abort();
        }
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(AbortError);
      expect(seen.filter((e) => e.endsWith('_error'))).toHaveLength(4);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    });

    it('applies the timeout: RunTimeoutError, and no timer left', async () => {
      // Timers of earlier tests are still being reaped by Node's timer lists: let them settle before counting.
      await new Promise((resolve) => setTimeout(resolve, 5));
      const before = timers();
      const never = RunnableLambda.from(() => new Promise<string>(() => undefined), { name: 'never' });
      let thrown: unknown;
      try {
        for await (const event of never.streamEvents('q', { version: 'v2', timeout: 5 })) void event;
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(RunTimeoutError);
      expect(timers()).toBeLessThanOrEqual(before);
    });
  });

  describe('a slow consumer', () => {
    it(`pauses the run once ${EVENT_BUFFER_SIZE} events wait, and resumes it when read`, async () => {
      const model = new CountingModel(300);
      const events = pipeline(model).streamEvents('q', { version: 'v2' });
      await events.next();
      await turns(50);
      const paused = model.produced;
      expect(paused).toBeLessThanOrEqual(EVENT_BUFFER_SIZE + 2);
      await turns(50);
      expect(model.produced).toBe(paused);
      let rest = 0;
      for await (const event of events) if (event.event === 'on_chat_model_stream') rest++;
      expect(model.produced).toBe(300);
      expect(rest).toBeGreaterThan(300 - EVENT_BUFFER_SIZE - 5);
    });
  });

  describe('several runs producing at once', () => {
    it('lets them all wait on a full buffer, and loses or reorders none of their tokens', async () => {
      const models = [new CountingModel(200), new CountingModel(200), new CountingModel(200)];
      const fanOut = RunnableLambda.from(async (q: string) => (await Promise.all(models.map((model) => model.invoke(q)))).map((m) => m.content).join('|'), {
        name: 'fan-out',
      });
      const events = fanOut.streamEvents('q', { version: 'v2' });
      const first = await events.next();
      await turns(50);
      const paused = models.reduce((sum, model) => sum + model.produced, 0);
      // Each model may push once past the bound before it waits.
      expect(paused).toBeLessThanOrEqual(EVENT_BUFFER_SIZE + models.length + 2);
      const tokens = new Map<string, string[]>();
      for await (const event of events) {
        if (event.event !== 'on_chat_model_stream') continue;
        tokens.set(event.run_id, [...(tokens.get(event.run_id) ?? []), event.data.chunk.content]);
      }
      expect(first.value?.event).toBe('on_chain_start');
      expect(tokens.size).toBe(3);
      const expected = Array.from({ length: 200 }, (_, i) => `word${i} `);
      for (const received of tokens.values()) expect(received).toEqual(expected);
    });
  });

  describe('token handlers next to the stream', () => {
    it('get every token, and the stream sends the same events as without them', async () => {
      const project = (events: StreamEvent[]): unknown[] =>
        events.map((e) => [e.event, e.name, e.parent_ids.length, e.tags, e.metadata, e.event === 'on_chat_model_stream' ? e.data.chunk.content : undefined]);
      const alone: StreamEvent[] = [];
      for await (const event of pipeline(new CountingModel(50)).streamEvents('q', { version: 'v2' })) alone.push(event);
      const received: string[] = [];
      const accompanied: StreamEvent[] = [];
      const tokenHandler = { name: 'tokens', handleLLMNewToken: (token: string) => void received.push(token) };
      for await (const event of pipeline(new CountingModel(50)).streamEvents('q', { version: 'v2', callbacks: [tokenHandler] })) accompanied.push(event);
      expect(received).toHaveLength(50);
      expect(received.join('')).toBe(Array.from({ length: 50 }, (_, i) => `word${i} `).join(''));
      expect(project(accompanied)).toEqual(project(alone));
      expect(alone.filter((e) => e.event === 'on_chat_model_stream')).toHaveLength(50);
    });
  });

  describe('the root run', () => {
    it('takes the run id given in options, as run_id of the root and first of every parent_ids', async () => {
      const runId = randomUUID();
      const seen: StreamEvent[] = [];
      for await (const event of pipeline(new CountingModel(3)).streamEvents('q', { version: 'v2', runId })) seen.push(event);
      expect(seen[0]?.run_id).toBe(runId);
      expect(seen.find((e) => e.event === 'on_chain_stream')?.run_id).toBe(runId);
      for (const event of seen.filter((e) => e.run_id !== runId)) expect(event.parent_ids[0]).toBe(runId);
    });
  });

  describe('isolation', () => {
    it('keeps concurrent streams apart: each sees only its own runs', async () => {
      const read = async (input: string): Promise<StreamEvent[]> => {
        const out: StreamEvent[] = [];
        for await (const event of pipeline(new CountingModel(5)).streamEvents(input, { version: 'v2' })) out.push(event);
        return out;
      };
      const [a, b] = await Promise.all([read('a'), read('b')]);
      const idsA = new Set(a.map((e) => e.run_id));
      expect(b.some((e) => idsA.has(e.run_id))).toBe(false);
      expect(a).toHaveLength(b.length);
      expect(a.filter((e) => e.event === 'on_chat_model_stream')).toHaveLength(5);
      expect(a[0]?.data).toEqual({ input: 'a' });
      expect(b[0]?.data).toEqual({ input: 'b' });
    });

    it('handlers in options.callbacks get their events as usual', async () => {
      const { handler, starts, ends } = ledger();
      for await (const event of pipeline(new CountingModel(3)).streamEvents('q', { version: 'v2', callbacks: [handler] })) void event;
      expect(starts.size).toBe(4);
      expect(ends.size).toBe(4);
    });
  });

  describe('the typed events', () => {
    it('narrows on `event`: a chat model stream event has a message chunk', async () => {
      const text: string[] = [];
      for await (const event of pipeline(new CountingModel(3)).streamEvents('q', { version: 'v2' })) {
        if (event.event === 'on_chat_model_stream') text.push(event.data.chunk.content);
        if (event.event === 'on_chain_end' && event.parent_ids.length === 0) expect(event.data.output).toBe('word0 word1 word2 ');
      }
      expect(text.join('')).toBe('word0 word1 word2 ');
    });
  });

  describe('bad input', () => {
    it('refuses a missing or other version with a ConfigError naming the field', () => {
      const chain = pipeline(new CountingModel(1));
      expect(() => chain.streamEvents('q', {} as never)).toThrow(ConfigError);
      expect(() => chain.streamEvents('q', { version: 'v1' } as never)).toThrow(/`version` of streamEvents\(\) to be 'v2'.*`"v1"` \(string\)/);
    });

    it('refuses an unknown encoding and unknown or malformed filters', () => {
      const chain = pipeline(new CountingModel(1));
      expect(() => chain.streamEvents('q', { version: 'v2', encoding: 'json' } as never)).toThrow(/`encoding`/);
      expect(() => chain.streamEvents('q', { version: 'v2' }, { includeName: ['x'] } as never)).toThrow(/Unknown streamEvents\(\) filter `includeName`/);
      expect(() => chain.streamEvents('q', { version: 'v2' }, { includeTags: 'x' } as never)).toThrow(/`filters.includeTags`/);
    });

    it('rejects an invalid config when iterated, with a ConfigError', async () => {
      const events = pipeline(new CountingModel(1)).streamEvents('q', { version: 'v2', tags: 'x' } as never);
      await expect(events.next()).rejects.toBeInstanceOf(ConfigError);
    });
  });
});
