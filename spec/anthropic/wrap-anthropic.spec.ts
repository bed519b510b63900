import Anthropic from '@anthropic-ai/sdk';
import { Stream } from '@anthropic-ai/sdk/core/streaming';
import type { ServerResponse } from 'node:http';
import { AbortError, ConfigError, ProviderError, RunCollector, RunnableLambda, traceable, type LLMResult } from '../../lib';
import { wrapAnthropic } from '../../lib/anthropic';
import { OpenTelemetryTracer } from '../../lib/opentelemetry';
import {
  deferred,
  FakeAnthropicServer,
  heldStream,
  jsonAnswer,
  sendJson,
  sse,
  startStream,
  streamedAnswer,
  write,
  openingEvents,
  textDelta,
  type RecordedRequest,
} from '../helpers/anthropic-server';
import { InvariantChecker } from '../helpers/invariant';
import { useOpenTelemetry } from '../helpers/opentelemetry';
import { EventRecorder, shapeOf } from '../helpers/trees';

// Every test talks to a loopback server this file starts: no network, no real API key.
const server = new FakeAnthropicServer();
const otel = useOpenTelemetry();

beforeAll(() => server.start());
afterAll(() => server.stop());
afterEach(() => {
  expect(server.pending()).toBe(0);
  server.requests.length = 0;
});

function client(maxRetries = 0): Anthropic {
  return new Anthropic({ apiKey: 'test-key', baseURL: server.baseURL, maxRetries });
}

const REQUEST = {
  model: 'claude-test-1',
  max_tokens: 64,
  temperature: 0.2,
  system: 'Be brief.',
  messages: [{ role: 'user' as const, content: 'Hello?' }],
};

/** Runs `body` inside a root run given `handlers` (and checks the run invariant on the way out). */
async function inRun<T>(handlers: object[], body: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const checker = new InvariantChecker();
  try {
    return await RunnableLambda.from(body, { name: 'app' }).invoke(undefined, { callbacks: [...handlers, checker], signal });
  } finally {
    expect(checker.violations()).toEqual([]);
    expect(checker.open()).toEqual([]);
  }
}

function methods(recorder: EventRecorder): string[] {
  return recorder.methods().filter((method) => method !== 'handleChainStart' && method !== 'handleChainEnd' && method !== 'handleChainError');
}

function tokensOf(recorder: EventRecorder): string[] {
  return recorder.events.filter((event) => event.method === 'handleLLMNewToken').map((event) => event.args[0] as string);
}

function llmResult(recorder: EventRecorder): LLMResult {
  return recorder.events.find((event) => event.method === 'handleLLMEnd')?.args[0] as LLMResult;
}

/** A streamed reply echoing the request's last user message, token by token (one per word). */
function echo(res: ServerResponse, request: RecordedRequest): Promise<void> {
  const messages = request.body.messages as { content: string }[];
  const text = messages.at(-1)?.content ?? '';
  return streamedAnswer(text.split(/(?= )/), { requestId: `req_${text}` })(res, request) as Promise<void>;
}

describe('wrapAnthropic()', () => {
  it('refuses what is not an Anthropic client, and unknown options, with a ConfigError', () => {
    expect(() => wrapAnthropic({} as unknown as Anthropic)).toThrow(ConfigError);
    expect(() => wrapAnthropic({} as unknown as Anthropic)).toThrow('Expected wrapAnthropic() to receive an Anthropic client');
    expect(() => wrapAnthropic(client(), { colour: 'red' } as unknown as { name: string })).toThrow('colour');
  });

  it('refuses an invalid option with a ConfigError naming the field, the value and wrapAnthropic()', () => {
    const attempt = (): unknown => wrapAnthropic(client(), { tags: 'red' } as unknown as { tags: string[] });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow('Expected `tags` to be an array of strings, got `"red"` (string) in wrapAnthropic() options.');
    expect(() => wrapAnthropic(client(), { name: '' })).toThrow('in wrapAnthropic() options');
  });

  it('names its model runs and gives them its tags and metadata, next to the ls_* metadata of each call', async () => {
    server.reply(jsonAnswer('Hi there.', 'req_named'));
    const recorder = new EventRecorder();
    const anthropic = wrapAnthropic(client(), { name: 'claude', tags: ['support'], metadata: { team: 'care' } });
    await inRun([recorder], () => anthropic.messages.create(REQUEST));
    const start = recorder.events.find((event) => event.method === 'handleChatModelStart');
    expect(start?.args[5]).toEqual(['support']);
    expect(start?.args[6]).toMatchObject({ team: 'care', ls_provider: 'anthropic', ls_model_name: 'claude-test-1' });
    expect(start?.args[7]).toBe('claude');
  });

  it('passes other members through untouched', () => {
    const raw = client();
    const wrapped = wrapAnthropic(raw);
    expect(wrapped.baseURL).toBe(raw.baseURL);
    expect(wrapped.models).toBe(raw.models);
    expect(wrapped.messages.batches).toBe(raw.messages.batches);
    expect(wrapAnthropic(wrapped)).toBe(wrapped);
  });

  describe('messages.create() without stream', () => {
    it('reports a chat model run with the messages, parameters, ls_* metadata, usage and stop reason', async () => {
      server.reply(jsonAnswer('Hi there.', 'req_json', { inputTokens: 9, outputTokens: 3 }));
      const recorder = new EventRecorder();
      const anthropic = wrapAnthropic(client());
      const message = await inRun([recorder], () => anthropic.messages.create(REQUEST));

      expect(message.content).toEqual([{ type: 'text', text: 'Hi there.', citations: null }]);
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMEnd']);
      const start = recorder.events.find((event) => event.method === 'handleChatModelStart');
      expect(start?.args[1]).toEqual([[{ role: 'system', content: 'Be brief.' }, { role: 'human', content: 'Hello?' }]]);
      expect(start?.args[4]).toMatchObject({ invocation_params: { model: 'claude-test-1', max_tokens: 64, temperature: 0.2, provider: 'anthropic' } });
      expect(start?.args[6]).toMatchObject({ ls_provider: 'anthropic', ls_model_name: 'claude-test-1', ls_model_type: 'chat', ls_temperature: 0.2, ls_max_tokens: 64 });
      expect(start?.args[7]).toBe('ChatAnthropic');
      const result = llmResult(recorder);
      expect(result.generations[0]?.[0]?.text).toBe('Hi there.');
      expect(result.llmOutput).toEqual({
        id: 'msg_01',
        model: 'claude-test-1',
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 9, output_tokens: 3 },
        request_id: 'req_json',
      });
    });

    it('keeps withResponse() and asResponse() working', async () => {
      server.reply(jsonAnswer('One.', 'req_one'), jsonAnswer('Two.', 'req_two'));
      const anthropic = wrapAnthropic(client());
      const recorder = new EventRecorder();
      const { data, request_id, response } = await inRun([recorder], () => anthropic.messages.create(REQUEST).withResponse());
      expect(request_id).toBe('req_one');
      expect(response.status).toBe(200);
      expect(data.content[0]).toMatchObject({ text: 'One.' });

      const raw = await inRun([recorder], () => anthropic.messages.create(REQUEST).asResponse());
      expect(((await raw.json()) as { content: { text: string }[] }).content[0]?.text).toBe('Two.');
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMEnd', 'handleChatModelStart', 'handleLLMEnd']);
    });

    it('lets the SDK retry a 429: one run, one start, one end', async () => {
      server.reply(
        (res) => sendJson(res, 429, { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }, { 'request-id': 'req_429', 'retry-after-ms': '1' }),
        jsonAnswer('Made it.', 'req_ok'),
      );
      const recorder = new EventRecorder();
      const message = await inRun([recorder], () => wrapAnthropic(client(2)).messages.create(REQUEST));
      expect(message.content[0]).toMatchObject({ text: 'Made it.' });
      expect(server.requests).toHaveLength(2);
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMEnd']);
      expect(llmResult(recorder).llmOutput?.request_id).toBe('req_ok');
    });

    it('reports an API error once, with the error the caller gets', async () => {
      server.reply((res) => sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'bad' } }, { 'request-id': 'req_400' }));
      const recorder = new EventRecorder();
      const error = await inRun([recorder], () => wrapAnthropic(client()).messages.create(REQUEST)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Anthropic.BadRequestError);
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMError']);
      expect(recorder.events.find((event) => event.method === 'handleLLMError')?.args[0]).toBe(error);
    });
  });

  describe('messages.create({ stream: true })', () => {
    it("returns the SDK's own Stream and reports one token per text delta", async () => {
      server.reply(streamedAnswer(['Hel', 'lo', '!'], { requestId: 'req_stream', inputTokens: 5, outputTokens: 3 }));
      const recorder = new EventRecorder();
      const anthropic = wrapAnthropic(client());
      const texts = await inRun([recorder], async () => {
        const stream = await anthropic.messages.create({ ...REQUEST, stream: true });
        expect(stream).toBeInstanceOf(Stream);
        expect(stream.controller).toBeInstanceOf(AbortController);
        const seen: string[] = [];
        for await (const event of stream) if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') seen.push(event.delta.text);
        return seen;
      });
      expect(texts).toEqual(['Hel', 'lo', '!']);
      expect(tokensOf(recorder)).toEqual(['Hel', 'lo', '!']);
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMNewToken', 'handleLLMNewToken', 'handleLLMEnd']);
      expect(llmResult(recorder).generations[0]?.[0]?.text).toBe('Hello!');
      expect(llmResult(recorder).llmOutput).toMatchObject({ stop_reason: 'end_turn', usage: { input_tokens: 5, output_tokens: 3 }, request_id: 'req_stream' });
    });

    it('keeps tee() working, reporting each event once', async () => {
      server.reply(streamedAnswer(['a', 'b']));
      const recorder = new EventRecorder();
      await inRun([recorder], async () => {
        const [left, right] = (await wrapAnthropic(client()).messages.create({ ...REQUEST, stream: true })).tee();
        for await (const _ of left);
        for await (const _ of right);
      });
      expect(tokensOf(recorder)).toEqual(['a', 'b']);
    });

    it('ends the run with one error when the stream sends an error event', async () => {
      const release = deferred();
      server.reply(heldStream(['Half'], release.promise, async (res) => {
        await write(res, sse([{ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }]));
        res.end();
      }));
      const recorder = new EventRecorder();
      const error = await inRun([recorder], async () => {
        const stream = await wrapAnthropic(client()).messages.create({ ...REQUEST, stream: true });
        for await (const event of stream) if (event.type === 'content_block_delta') release.resolve();
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Anthropic.APIError);
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMError']);
    });

    it('ends the run with one error when the connection is cut', async () => {
      const release = deferred();
      server.reply(heldStream(['Half'], release.promise, (res) => void res.socket?.destroy()));
      const recorder = new EventRecorder();
      const error = await inRun([recorder], async () => {
        const stream = await wrapAnthropic(client()).messages.create({ ...REQUEST, stream: true });
        for await (const event of stream) if (event.type === 'content_block_delta') release.resolve();
      }).catch((e: unknown) => e);
      // What fetch throws when the body stops arriving (undici's TypeError from Node's own realm).
      expect((error as Error).name).toBe('TypeError');
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMError']);
      expect(recorder.events.find((event) => event.method === 'handleLLMError')?.args[0]).toBe(error);
    });

    it("aborts the request with the run's signal when the caller gave none, ending the run with one AbortError", async () => {
      const release = deferred();
      server.reply(heldStream(['Half'], release.promise, (res) => void res.end()));
      const recorder = new EventRecorder();
      const controller = new AbortController();
      const outcome = await inRun(
        [recorder],
        async () => {
          const stream = await wrapAnthropic(client()).messages.create({ ...REQUEST, stream: true });
          for await (const event of stream) if (event.type === 'content_block_delta') controller.abort(new Error('user left'));
        },
        controller.signal,
      ).catch((e: unknown) => e);
      release.resolve();
      expect(outcome).toBeInstanceOf(AbortError);
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMError']);
      expect(recorder.events.find((event) => event.method === 'handleLLMError')?.args[0]).toBeInstanceOf(AbortError);
    });

    it('reports a stream that ends before message_stop as an incomplete answer', async () => {
      server.reply(async (res) => {
        startStream(res, 'req_short');
        await write(res, sse([...openingEvents(), textDelta('cut')]));
        res.end();
      });
      const recorder = new EventRecorder();
      await inRun([recorder], async () => {
        for await (const _ of await wrapAnthropic(client()).messages.create({ ...REQUEST, stream: true }));
      });
      const error = recorder.events.find((event) => event.method === 'handleLLMError')?.args[0];
      expect(error).toBeInstanceOf(ProviderError);
      expect((error as ProviderError).message).toContain('incomplete (request id req_short)');
    });
  });

  describe('messages.stream()', () => {
    it("returns the SDK's MessageStream and reports tokens and the final message", async () => {
      server.reply(streamedAnswer(['Str', 'eam'], { requestId: 'req_helper', outputTokens: 2 }));
      const recorder = new EventRecorder();
      const final = await inRun([recorder], async () => {
        const stream = wrapAnthropic(client()).messages.stream(REQUEST);
        const texts: string[] = [];
        stream.on('text', (text) => texts.push(text));
        const message = await stream.finalMessage();
        expect(texts).toEqual(['Str', 'eam']);
        return message;
      });
      expect(final.content[0]).toMatchObject({ type: 'text', text: 'Stream' });
      expect(tokensOf(recorder)).toEqual(['Str', 'eam']);
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMNewToken', 'handleLLMEnd']);
      expect(llmResult(recorder).llmOutput).toMatchObject({ usage: { output_tokens: 2 }, request_id: 'req_helper' });
    });
  });

  describe('in a pipeline', () => {
    it('nests under traceable functions and tools, and feeds usage to the OpenTelemetry GenAI attributes', async () => {
      server.reply(streamedAnswer(['Sunny'], { requestId: 'req_weather', inputTokens: 11, outputTokens: 1 }), jsonAnswer('It is sunny.', 'req_final', { inputTokens: 20, outputTokens: 4 }));
      const anthropic = wrapAnthropic(client());
      const collector = new RunCollector();
      const weather = traceable(async (city: string) => {
        let text = '';
        const stream = await anthropic.messages.create({ ...REQUEST, stream: true, messages: [{ role: 'user', content: `Weather in ${city}?` }] });
        for await (const event of stream) if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
        return text;
      }, { name: 'weather', runType: 'tool' });
      const agent = traceable(async (city: string) => {
        const report = await weather(city);
        const answer = await anthropic.messages.create({ ...REQUEST, messages: [{ role: 'user', content: report }] });
        return answer.content[0]?.type === 'text' ? answer.content[0].text : '';
      }, { name: 'agent' });

      const checker = new InvariantChecker();
      const answer = await agent.withConfig({ callbacks: [collector, checker, new OpenTelemetryTracer({ tracer: otel.tracer })] })('Lisbon');

      expect(answer).toBe('It is sunny.');
      expect(checker.violations()).toEqual([]);
      const root = collector.runs[0];
      if (root === undefined) throw new Error('no run');
      expect(shapeOf(root)).toEqual({
        type: 'chain',
        name: 'agent',
        children: [
          { type: 'tool', name: 'weather', children: [{ type: 'llm', name: 'ChatAnthropic', children: [] }] },
          { type: 'llm', name: 'ChatAnthropic', children: [] },
        ],
      });
      expect(root.children[0]?.children[0]?.tokens).toEqual(['Sunny']);
      const spans = otel.spans().filter((span) => span.attributes['gen_ai.operation.name'] === 'chat');
      expect(spans.map((span) => span.attributes)).toEqual([
        expect.objectContaining({ 'gen_ai.provider.name': 'anthropic', 'gen_ai.request.model': 'claude-test-1', 'gen_ai.usage.input_tokens': 11, 'gen_ai.usage.output_tokens': 1, 'gen_ai.response.finish_reasons': ['end_turn'] }),
        expect.objectContaining({ 'gen_ai.usage.input_tokens': 20, 'gen_ai.usage.output_tokens': 4, 'gen_ai.response.id': 'msg_01' }),
      ]);
    });

    it('keeps 100 concurrent calls from different runs isolated', async () => {
      for (let i = 0; i < 100; i++) server.reply(echo);
      const anthropic = wrapAnthropic(client());
      const collector = new RunCollector();
      const ask = traceable(async (i: number) => {
        const stream = await anthropic.messages.create({ ...REQUEST, stream: true, messages: [{ role: 'user', content: `q${i} one two` }] });
        for await (const _ of stream);
        return i;
      }, { name: 'ask' });
      await inRun([collector], () => Promise.all(Array.from({ length: 100 }, (_, i) => ask(i))));
      const asks = collector.runs[0]?.children ?? [];
      expect(asks).toHaveLength(100);
      for (const run of asks) {
        const i = (run.inputs as { input: number }).input;
        expect(run.children).toHaveLength(1);
        expect(run.children[0]?.tokens).toEqual([`q${i}`, ' one', ' two']);
      }
    });
  });
});

