import { request, createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  configure,
  BaseChatModel,
  RunnableLambda,
  pipeEventStream,
  toEventStreamResponse,
  type AIMessageChunk,
  type CallbackHandlerLike,
  type ChatMessage,
  type RunnableConfig,
} from '../../lib';

class CountingModel extends BaseChatModel {
  produced = 0;
  closed = false;
  constructor(private readonly limit: number) {
    super({ name: 'CountingModel' });
  }
  override async *_streamChunks(_messages: readonly ChatMessage[], config: RunnableConfig): AsyncGenerator<AIMessageChunk> {
    try {
      for (let i = 0; i < this.limit; i++) {
        this.produced++;
        yield { role: 'ai', content: `w${i} ` };
        // A real model waits on its socket between tokens, and stops reading when the run's signal aborts.
        await nextTokenOrAbort(config.signal);
      }
    } finally {
      this.closed = true;
    }
  }
}

function nextTokenOrAbort(signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearImmediate(tick);
      reject(new Error('connection closed'));
    };
    const tick = setImmediate(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function pipeline(model: BaseChatModel): RunnableLambda<string, string> {
  const inner = RunnableLambda.from(async (q: string) => (await model.invoke(q)).content, { name: 'inner' });
  return RunnableLambda.from(async (q: string) => inner.invoke(q), { name: 'outer' });
}

interface Frame {
  event: string;
  data?: string;
}

function parseFrames(text: string): Frame[] {
  return text
    .split('\n\n')
    .filter((block) => block !== '')
    .map((block) => {
      const frame: Frame = { event: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) frame.event = line.slice(7);
        else if (line.startsWith('data: ')) frame.data = line.slice(6);
      }
      return frame;
    });
}

/** A loopback server whose one route streams `pipeline`'s events; `served` settles when the route is done. */
async function serve(model: BaseChatModel, handlers: CallbackHandlerLike[] = []): Promise<{ server: Server; port: number; served: Promise<void> }> {
  let done: (value: Promise<void>) => void = () => undefined;
  const served = new Promise<void>((resolve) => {
    done = (value) => resolve(value);
  });
  const server = createServer((_req, res) => {
    done(pipeEventStream(pipeline(model).streamEvents('q', { version: 'v2', callbacks: handlers }), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, served };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}

function get(port: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/events', method: 'GET' }, resolve);
    req.on('error', reject);
    req.end();
  });
}


// Another spec file in the same worker may have left a different propagation mode or delivery behind.
beforeEach(() => configure({ propagation: 'async-local-storage', callbacks: 'blocking' }));

describe('pipeEventStream()', () => {
  it("streams the events over HTTP in LangChain's wire format: data frames, then end", async () => {
    const model = new CountingModel(5);
    const { server, port, served } = await serve(model);
    try {
      const res = await get(port);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache, no-transform');
      res.setEncoding('utf8');
      let body = '';
      for await (const piece of res) body += piece as string;
      await served;
      const frames = parseFrames(body);
      expect(frames[frames.length - 1]).toEqual({ event: 'end' });
      const events = frames.slice(0, -1).map((frame) => {
        expect(frame.event).toBe('data');
        return JSON.parse(frame.data as string) as { event: string; name: string; data: { chunk?: { kwargs?: { content?: string } } }; parent_ids: string[] };
      });
      expect(events[0]).toMatchObject({ event: 'on_chain_start', name: 'outer', data: { input: 'q' }, parent_ids: [] });
      const tokens = events.filter((e) => e.event === 'on_chat_model_stream').map((e) => e.data.chunk?.kwargs?.content);
      expect(tokens).toEqual(['w0 ', 'w1 ', 'w2 ', 'w3 ', 'w4 ']);
      expect(events[events.length - 1]).toMatchObject({ event: 'on_chain_end', name: 'outer', data: { output: 'w0 w1 w2 w3 w4 ' } });
    } finally {
      await close(server);
    }
  });

  it('aborts the run when the client disconnects mid-stream; every run still ends once for other handlers', async () => {
    const model = new CountingModel(100_000);
    const ends: string[] = [];
    const handler = {
      name: 'ends',
      handleChainError: (_e: unknown, runId: string) => void ends.push(runId),
      handleChainEnd: (_o: unknown, runId: string) => void ends.push(runId),
      handleLLMError: (_e: unknown, runId: string) => void ends.push(runId),
      handleLLMEnd: (_o: unknown, runId: string) => void ends.push(runId),
    };
    const { server, port, served } = await serve(model, [handler]);
    try {
      const res = await get(port);
      res.setEncoding('utf8');
      let body = '';
      for await (const piece of res) {
        body += piece as string;
        if ((body.match(/on_chat_model_stream/g) ?? []).length >= 3) break;
      }
      // Leaving the loop destroyed the response and so the connection: the server sees the client go.
      await served;
      expect(model.closed).toBe(true);
      expect(model.produced).toBeLessThan(1_000);
      expect(ends).toHaveLength(3);
      expect(new Set(ends).size).toBe(3);
    } finally {
      await close(server);
    }
  });
});

describe('toEventStreamResponse()', () => {
  it('returns a Web Response with SSE headers whose body is the wire format', async () => {
    const response = toEventStreamResponse(pipeline(new CountingModel(2)).streamEvents('q', { version: 'v2' }), { headers: { 'X-Trace': 'on' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('x-trace')).toBe('on');
    const frames = parseFrames(await response.text());
    expect(frames.map((f) => f.event)).toEqual([...new Array<string>(frames.length - 1).fill('data'), 'end']);
    expect(frames.filter((f) => f.data?.includes('"on_chat_model_stream"'))).toHaveLength(2);
  });

  it('cancelling the body aborts the run', async () => {
    const model = new CountingModel(100_000);
    const response = toEventStreamResponse(pipeline(model).streamEvents('q', { version: 'v2' }));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    expect(model.closed).toBe(true);
    expect(model.produced).toBeLessThan(1_000);
  });

  it('ends a failed run with an error frame', async () => {
    const failing = RunnableLambda.from(() => {
      throw new Error('boom');
    }, { name: 'failing' });
    const frames = parseFrames(await toEventStreamResponse(failing.streamEvents('q', { version: 'v2' })).text());
    expect(frames[frames.length - 1]).toEqual({ event: 'error', data: JSON.stringify({ name: 'Error', message: 'boom' }) });
  });

  it('writes an event whose data reaches itself with "[Circular]" in place of the repeated ancestor, and goes on', async () => {
    const input: { question: string; self?: unknown } = { question: 'q' };
    input.self = input;
    const echo = RunnableLambda.from((value: typeof input) => value.question, { name: 'echo' });
    const frames = parseFrames(await toEventStreamResponse(echo.streamEvents(input, { version: 'v2' })).text());
    expect(frames.map((f) => f.event)).toEqual(['data', 'data', 'data', 'end']);
    const start = JSON.parse(frames[0]?.data ?? '') as { event: string; data: { input: unknown } };
    expect(start.event).toBe('on_chain_start');
    expect(start.data.input).toEqual({ question: 'q', self: '[Circular]' });
  });
});

describe("streamEvents() with encoding: 'text/event-stream'", () => {
  it('yields Uint8Array frames', async () => {
    const decoder = new TextDecoder();
    const chunks: Uint8Array[] = [];
    for await (const chunk of pipeline(new CountingModel(1)).streamEvents('q', { version: 'v2', encoding: 'text/event-stream' })) chunks.push(chunk);
    expect(chunks.every((chunk) => chunk instanceof Uint8Array)).toBe(true);
    const text = chunks.map((chunk) => decoder.decode(chunk)).join('');
    expect(text.startsWith('event: data\ndata: {"event":"on_chain_start"')).toBe(true);
    expect(text.endsWith('\n\nevent: end\n\n')).toBe(true);
  });
});
