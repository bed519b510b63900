import OpenAI from 'openai';
import { Stream } from 'openai/streaming';
import type { ServerResponse } from 'node:http';
import { AbortError, ConfigError, ProviderError, RunCollector, RunnableLambda, traceable, type LLMResult } from '../../lib';
import { wrapOpenAI } from '../../lib/openai';
import { OpenTelemetryTracer } from '../../lib/opentelemetry';
import { InvariantChecker } from '../helpers/invariant';
import {
  dataLines,
  deferred,
  FakeOpenAIServer,
  heldCompletion,
  jsonCompletion,
  jsonResponse,
  responseEvents,
  sendJson,
  startSse,
  streamedCompletion,
  streamedResponse,
  write,
  type RecordedRequest,
} from '../helpers/openai-server';
import { useOpenTelemetry } from '../helpers/opentelemetry';
import { EventRecorder, shapeOf } from '../helpers/trees';

// Every test talks to a loopback server this file starts: no network, no real API key.
const server = new FakeOpenAIServer();
const otel = useOpenTelemetry();

beforeAll(() => server.start());
afterAll(() => server.stop());
afterEach(() => {
  expect(server.pending()).toBe(0);
  server.requests.length = 0;
});

function client(maxRetries = 0): OpenAI {
  return new OpenAI({ apiKey: 'test-key', baseURL: server.baseURL, maxRetries });
}

const CHAT = {
  model: 'gpt-test-1',
  temperature: 0.3,
  max_completion_tokens: 50,
  messages: [
    { role: 'system' as const, content: 'Be brief.' },
    { role: 'user' as const, content: 'Hello?' },
  ],
};

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
  return recorder.methods().filter((method) => !method.startsWith('handleChain'));
}

function tokensOf(recorder: EventRecorder): string[] {
  return recorder.events.filter((event) => event.method === 'handleLLMNewToken').map((event) => event.args[0] as string);
}

function llmResult(recorder: EventRecorder): LLMResult {
  return recorder.events.find((event) => event.method === 'handleLLMEnd')?.args[0] as LLMResult;
}

/** A streamed completion echoing the request's last message word by word. */
function echo(res: ServerResponse, request: RecordedRequest): Promise<void> {
  const messages = request.body.messages as { content: string }[];
  const text = messages.at(-1)?.content ?? '';
  return streamedCompletion(text.split(/(?= )/), `req_${text}`)(res, request) as Promise<void>;
}

describe('wrapOpenAI()', () => {
  it('refuses what is not an OpenAI client, and unknown options, with a ConfigError', () => {
    expect(() => wrapOpenAI({ chat: {} } as unknown as OpenAI)).toThrow(ConfigError);
    expect(() => wrapOpenAI({ chat: {} } as unknown as OpenAI)).toThrow('Expected wrapOpenAI() to receive an OpenAI client');
    expect(() => wrapOpenAI(client(), { modle: 'x' } as unknown as { name: string })).toThrow('modle');
  });

  it('refuses an invalid option with a ConfigError naming the field, the value and wrapOpenAI()', () => {
    const attempt = (): unknown => wrapOpenAI(client(), { metadata: ['a'] } as unknown as { metadata: Record<string, unknown> });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/^Expected `metadata` to be a plain object, got .* in wrapOpenAI\(\) options\.$/);
    expect(() => wrapOpenAI(client(), { provider: '' })).toThrow('Expected `provider` to be a non-empty string');
  });

  it('names its model runs and gives them its tags, metadata and provider, next to the ls_* metadata of each call', async () => {
    server.reply(jsonCompletion('Hi.', 'req_named'));
    const recorder = new EventRecorder();
    const openai = wrapOpenAI(client(), { name: 'groq', tags: ['support'], metadata: { team: 'care' }, provider: 'groq' });
    await inRun([recorder], () => openai.chat.completions.create(CHAT));
    const start = recorder.events.find((event) => event.method === 'handleChatModelStart');
    expect(start?.args[4]).toMatchObject({ invocation_params: { provider: 'groq' } });
    expect(start?.args[5]).toEqual(['support']);
    expect(start?.args[6]).toMatchObject({ team: 'care', ls_provider: 'groq', ls_model_name: 'gpt-test-1' });
    expect(start?.args[7]).toBe('groq');
  });

  it('passes other members through untouched', () => {
    const raw = client();
    const wrapped = wrapOpenAI(raw);
    expect(wrapped.baseURL).toBe(raw.baseURL);
    expect(wrapped.embeddings).toBe(raw.embeddings);
    expect(wrapped.chat.completions.messages).toBe(raw.chat.completions.messages);
    expect(wrapOpenAI(wrapped)).toBe(wrapped);
  });

  describe('chat.completions.create()', () => {
    it('reports a chat model run with the messages, parameters, ls_* metadata, usage and finish reason', async () => {
      server.reply(jsonCompletion('Hi.', 'req_json', { promptTokens: 9, completionTokens: 2 }));
      const recorder = new EventRecorder();
      const completion = await inRun([recorder], () => wrapOpenAI(client()).chat.completions.create(CHAT));

      expect(completion.choices[0]?.message.content).toBe('Hi.');
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMEnd']);
      const start = recorder.events.find((event) => event.method === 'handleChatModelStart');
      expect(start?.args[1]).toEqual([[{ role: 'system', content: 'Be brief.' }, { role: 'human', content: 'Hello?' }]]);
      expect(start?.args[4]).toMatchObject({ invocation_params: { model: 'gpt-test-1', temperature: 0.3, max_completion_tokens: 50, provider: 'openai' } });
      expect(start?.args[6]).toMatchObject({ ls_provider: 'openai', ls_model_name: 'gpt-test-1', ls_model_type: 'chat', ls_temperature: 0.3, ls_max_tokens: 50 });
      expect(start?.args[7]).toBe('ChatOpenAI');
      const result = llmResult(recorder);
      expect(result.generations[0]?.[0]?.text).toBe('Hi.');
      expect(result.llmOutput).toMatchObject({
        id: 'chatcmpl-1',
        model: 'gpt-test-1',
        finish_reason: 'stop',
        usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
        request_id: 'req_json',
      });
    });

    it('keeps withResponse() working', async () => {
      server.reply(jsonCompletion('Yes.', 'req_with'));
      const { data, request_id } = await inRun([new EventRecorder()], () => wrapOpenAI(client()).chat.completions.create(CHAT).withResponse());
      expect(request_id).toBe('req_with');
      expect(data.choices[0]?.message.content).toBe('Yes.');
    });

    it('lets the SDK retry a 429: one run, one start, one end', async () => {
      server.reply(
        (res) => sendJson(res, 429, { error: { message: 'slow down', type: 'rate_limit_error' } }, { 'x-request-id': 'req_429', 'retry-after-ms': '1' }),
        jsonCompletion('Made it.', 'req_ok'),
      );
      const recorder = new EventRecorder();
      await inRun([recorder], () => wrapOpenAI(client(2)).chat.completions.create(CHAT));
      expect(server.requests).toHaveLength(2);
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMEnd']);
      expect(llmResult(recorder).llmOutput?.request_id).toBe('req_ok');
    });

    it('streams: the same Stream object, one token per delta, usage from the include_usage chunk', async () => {
      server.reply(streamedCompletion(['Hel', 'lo'], 'req_stream', { promptTokens: 4, completionTokens: 2 }));
      const recorder = new EventRecorder();
      const texts = await inRun([recorder], async () => {
        const stream = await wrapOpenAI(client()).chat.completions.create({ ...CHAT, stream: true, stream_options: { include_usage: true } });
        expect(stream).toBeInstanceOf(Stream);
        expect(stream.controller).toBeInstanceOf(AbortController);
        const seen: string[] = [];
        for await (const part of stream) if (part.choices[0]?.delta.content) seen.push(part.choices[0].delta.content);
        return seen;
      });
      expect(texts).toEqual(['Hel', 'lo']);
      expect(tokensOf(recorder)).toEqual(['Hel', 'lo']);
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMNewToken', 'handleLLMEnd']);
      expect(llmResult(recorder).llmOutput).toMatchObject({ finish_reason: 'stop', usage: { prompt_tokens: 4, completion_tokens: 2 }, request_id: 'req_stream' });
    });

    it('ends the run with one error when the stream sends an error', async () => {
      const release = deferred();
      server.reply(heldCompletion(['Half'], release.promise, async (res) => {
        await write(res, dataLines([{ error: { message: 'server exploded', type: 'server_error' } }]));
        res.end();
      }));
      const recorder = new EventRecorder();
      const error = await inRun([recorder], async () => {
        for await (const _ of await wrapOpenAI(client()).chat.completions.create({ ...CHAT, stream: true })) release.resolve();
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMError']);
      expect(recorder.events.find((event) => event.method === 'handleLLMError')?.args[0]).toBe(error);
    });

    it('ends the run with one error when the connection is cut', async () => {
      const release = deferred();
      server.reply(heldCompletion(['Half'], release.promise, (res) => void res.socket?.destroy()));
      const recorder = new EventRecorder();
      const error = await inRun([recorder], async () => {
        for await (const _ of await wrapOpenAI(client()).chat.completions.create({ ...CHAT, stream: true })) release.resolve();
      }).catch((e: unknown) => e);
      expect((error as Error).name).toBe('TypeError');
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMError']);
    });

    it("aborts the request with the run's signal, ending the run with one AbortError", async () => {
      const release = deferred();
      server.reply(heldCompletion(['Half'], release.promise, (res) => void res.end()));
      const recorder = new EventRecorder();
      const controller = new AbortController();
      const outcome = await inRun(
        [recorder],
        async () => {
          for await (const _ of await wrapOpenAI(client()).chat.completions.create({ ...CHAT, stream: true })) controller.abort(new Error('left'));
        },
        controller.signal,
      ).catch((e: unknown) => e);
      release.resolve();
      expect(outcome).toBeInstanceOf(AbortError);
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMError']);
      expect(recorder.events.find((event) => event.method === 'handleLLMError')?.args[0]).toBeInstanceOf(AbortError);
    });
  });

  describe('chat.completions.stream()', () => {
    it("returns the SDK's ChatCompletionStream and reports tokens and the final completion", async () => {
      server.reply(streamedCompletion(['Str', 'eam'], 'req_helper'));
      const recorder = new EventRecorder();
      const final = await inRun([recorder], async () => {
        const stream = wrapOpenAI(client()).chat.completions.stream({ ...CHAT, stream_options: { include_usage: true } });
        const deltas: string[] = [];
        stream.on('content', (delta) => deltas.push(delta));
        const completion = await stream.finalChatCompletion();
        expect(deltas).toEqual(['Str', 'eam']);
        return completion;
      });
      expect(final.choices[0]?.message.content).toBe('Stream');
      expect(tokensOf(recorder)).toEqual(['Str', 'eam']);
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMNewToken', 'handleLLMEnd']);
      expect(llmResult(recorder).llmOutput).toMatchObject({ finish_reason: 'stop', usage: { total_tokens: 15 } });
    });
  });

  describe('responses.create()', () => {
    it('reports the instructions and input as messages, and the output text, usage and status', async () => {
      server.reply(jsonResponse('Fine.', 'req_resp', { inputTokens: 6, outputTokens: 1 }));
      const recorder = new EventRecorder();
      const response = await inRun([recorder], () =>
        wrapOpenAI(client()).responses.create({ model: 'gpt-test-1', instructions: 'Be brief.', input: 'How are you?', max_output_tokens: 20 }),
      );
      expect(response.output_text).toBe('Fine.');
      const start = recorder.events.find((event) => event.method === 'handleChatModelStart');
      expect(start?.args[1]).toEqual([[{ role: 'system', content: 'Be brief.' }, { role: 'human', content: 'How are you?' }]]);
      expect(start?.args[6]).toMatchObject({ ls_model_name: 'gpt-test-1', ls_max_tokens: 20 });
      expect(llmResult(recorder).generations[0]?.[0]?.text).toBe('Fine.');
      expect(llmResult(recorder).llmOutput).toMatchObject({ id: 'resp_1', status: 'completed', finish_reason: 'completed', usage: { input_tokens: 6, output_tokens: 1 }, request_id: 'req_resp' });
    });

    it('streams: one token per output_text delta, the final response at response.completed', async () => {
      server.reply(streamedResponse(['A', 'B', 'C'], 'req_rs', { outputTokens: 3 }));
      const recorder = new EventRecorder();
      const types = await inRun([recorder], async () => {
        const stream = await wrapOpenAI(client()).responses.create({ model: 'gpt-test-1', input: [{ role: 'user', content: 'Spell' }], stream: true });
        const seen: string[] = [];
        for await (const event of stream) seen.push(event.type);
        return seen;
      });
      expect(types).toEqual(['response.created', 'response.output_text.delta', 'response.output_text.delta', 'response.output_text.delta', 'response.completed']);
      expect(tokensOf(recorder)).toEqual(['A', 'B', 'C']);
      expect(llmResult(recorder).generations[0]?.[0]?.text).toBe('ABC');
      expect(llmResult(recorder).llmOutput).toMatchObject({ usage: { output_tokens: 3 }, request_id: 'req_rs' });
    });

    it('ends the run with one error when the stream reports response.failed', async () => {
      server.reply(async (res) => {
        startSse(res, 'req_failed');
        await write(
          res,
          responseEvents([
            { type: 'response.created', response: { id: 'resp_2', status: 'in_progress' } },
            { type: 'response.output_text.delta', delta: 'Par' },
            { type: 'response.failed', response: { id: 'resp_2', status: 'failed', error: { code: 'server_error', message: 'model crashed' } } },
          ]),
        );
        res.end();
      });
      const recorder = new EventRecorder();
      await inRun([recorder], async () => {
        for await (const _ of await wrapOpenAI(client()).responses.create({ model: 'gpt-test-1', input: 'x', stream: true }));
      });
      expect(methods(recorder)).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMError']);
      const error = recorder.events.find((event) => event.method === 'handleLLMError')?.args[0];
      expect(error).toBeInstanceOf(ProviderError);
      expect((error as Error).message).toContain('(server_error): model crashed');
    });
  });

  describe('in a pipeline', () => {
    it('nests under traceable functions and tools, and feeds usage to the OpenTelemetry GenAI attributes', async () => {
      server.reply(streamedCompletion(['Sunny'], 'req_tool', { promptTokens: 13, completionTokens: 1 }), jsonResponse('It is sunny.', 'req_final', { inputTokens: 21, outputTokens: 4 }));
      const openai = wrapOpenAI(client());
      const collector = new RunCollector();
      const weather = traceable(async (city: string) => {
        let text = '';
        const stream = await openai.chat.completions.create({ ...CHAT, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: `Weather in ${city}?` }] });
        for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
        return text;
      }, { name: 'weather', runType: 'tool' });
      const agent = traceable(async (city: string) => {
        const report = await weather(city);
        return (await openai.responses.create({ model: 'gpt-test-1', input: report })).output_text;
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
          { type: 'tool', name: 'weather', children: [{ type: 'llm', name: 'ChatOpenAI', children: [] }] },
          { type: 'llm', name: 'ChatOpenAI', children: [] },
        ],
      });
      expect(root.children[0]?.children[0]?.tokens).toEqual(['Sunny']);
      const spans = otel.spans().filter((span) => span.attributes['gen_ai.operation.name'] === 'chat');
      expect(spans.map((span) => span.attributes)).toEqual([
        expect.objectContaining({ 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-test-1', 'gen_ai.usage.input_tokens': 13, 'gen_ai.usage.output_tokens': 1, 'gen_ai.response.finish_reasons': ['stop'] }),
        expect.objectContaining({ 'gen_ai.usage.input_tokens': 21, 'gen_ai.usage.output_tokens': 4, 'gen_ai.response.id': 'resp_1' }),
      ]);
    });

    it('keeps 100 concurrent calls from different runs isolated', async () => {
      for (let i = 0; i < 100; i++) server.reply(echo);
      const openai = wrapOpenAI(client());
      const collector = new RunCollector();
      const ask = traceable(async (i: number) => {
        for await (const _ of await openai.chat.completions.create({ ...CHAT, stream: true, messages: [{ role: 'user', content: `q${i} one two` }] }));
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
