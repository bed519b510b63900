import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import {
  AbortError,
  ConfigError,
  ProviderError,
  RunCollector,
  RunnableLambda,
  type AIMessageChunk,
  type LLMResult,
} from '../../lib';
import { ChatAnthropic, type ChatAnthropicOptions } from '../../lib/anthropic';
import {
  FakeAnthropicServer,
  openingEvents,
  sendJson,
  sse,
  startStream,
  streamedAnswer,
  textDelta,
  write,
} from '../helpers/anthropic-server';
import { InvariantChecker } from '../helpers/invariant';
import { EventRecorder } from '../helpers/trees';

// Every test talks to a loopback server this file starts: no network, no real API key.
const server = new FakeAnthropicServer();

beforeAll(() => server.start());
afterAll(() => server.stop());
afterEach(() => {
  // A reply left over means a test made fewer requests than it scripted.
  expect(server.pending()).toBe(0);
  server.requests.length = 0;
});

function model(options: Partial<ChatAnthropicOptions> = {}): ChatAnthropic {
  return new ChatAnthropic({ model: 'claude-test-1', maxTokens: 64, apiKey: 'test-key', baseURL: server.baseURL, ...options });
}

/** Runs `body` with a fresh InvariantChecker and asserts the run invariant held and every run ended. */
async function checked<T>(body: (checker: InvariantChecker) => Promise<T>): Promise<T> {
  const checker = new InvariantChecker();
  try {
    return await body(checker);
  } finally {
    expect(checker.violations()).toEqual([]);
    expect(checker.open()).toEqual([]);
  }
}

function tokensOf(recorder: EventRecorder): string[] {
  return recorder.events.filter((e) => e.method === 'handleLLMNewToken').map((e) => e.args[0] as string);
}

function errorsOf(recorder: EventRecorder): unknown[] {
  return recorder.events.filter((e) => e.method === 'handleLLMError').map((e) => e.args[0]);
}

/** A reply that streams the opening and `tokens`, then waits for `release` before doing `then` with the response. */
function heldStream(tokens: readonly string[], release: Promise<void>, then: (res: ServerResponse) => void): (res: ServerResponse) => Promise<void> {
  return async (res) => {
    startStream(res, 'req_held');
    await write(res, sse([...openingEvents(), ...tokens.map(textDelta)]));
    await release;
    then(res);
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('ChatAnthropic', () => {
  describe('constructor', () => {
    it('rejects a bad option with a ConfigError naming it', () => {
      expect(() => model({ maxTokens: 0 })).toThrow(ConfigError);
      expect(() => model({ maxTokens: 0 })).toThrow('Expected `maxTokens` to be a whole number of tokens, 1 or more, got `0` (number)');
      expect(() => model({ baseURL: 'ftp://example.com' })).toThrow('`baseURL`');
      expect(() => model({ model: '' })).toThrow('`model`');
      expect(() => model({ maxRetries: -1 })).toThrow('`maxRetries`');
      expect(() => model({ colour: 'red' } as unknown as ChatAnthropicOptions)).toThrow('Unknown option `colour`');
    });

    it('takes a temperature from 0 to 1, and rejects others naming it', () => {
      expect(model({ temperature: 0.2 }).temperature).toBe(0.2);
      const build = () => model({ temperature: 1.5 });
      expect(build).toThrow(ConfigError);
      expect(build).toThrow('Expected `temperature` to be a number from 0 to 1, got `1.5` (number)');
    });

    it('reports its invocation params to handlers', () => {
      expect(model({ streaming: true }).invocationParams()).toEqual({ model: 'claude-test-1', max_tokens: 64, streaming: true, provider: 'anthropic' });
    });
  });

  describe('.invoke()', () => {
    it('with streaming: true, emits the start with the messages, one token per text delta, then the end with usage and stop reason', async () => {
      server.reply(streamedAnswer(['Why', ' did', ' the'], { requestId: 'req_abc', inputTokens: 21, outputTokens: 9, stopReason: 'max_tokens' }));
      const recorder = new EventRecorder();

      const answer = await checked((checker) => model({ streaming: true }).invoke('Tell me a joke', { callbacks: [recorder, checker] }));

      expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMNewToken', 'handleLLMNewToken', 'handleLLMEnd']);
      const start = recorder.events[0]!.args;
      expect(start[1]).toEqual([[{ role: 'human', content: 'Tell me a joke' }]]);
      expect(start[4]).toEqual({ invocation_params: { model: 'claude-test-1', max_tokens: 64, streaming: true, provider: 'anthropic' }, batch_size: 1 });
      expect(tokensOf(recorder)).toEqual(['Why', ' did', ' the']);

      const result = recorder.events[4]!.args[0] as LLMResult;
      const metadata = {
        id: 'msg_01',
        model: 'claude-test-1',
        stop_reason: 'max_tokens',
        stop_sequence: null,
        usage: { input_tokens: 21, output_tokens: 9 },
        request_id: 'req_abc',
      };
      expect(result.llmOutput).toEqual(metadata);
      expect(result.generations[0]![0]!.generationInfo).toEqual(metadata);
      expect(result.generations[0]![0]!.text).toBe('Why did the');
      expect(answer).toEqual({ role: 'ai', content: 'Why did the', responseMetadata: metadata });
    });

    it('with streaming: false, emits no token events but still ends with usage', async () => {
      server.reply(streamedAnswer(['a', ' b']));
      const recorder = new EventRecorder();

      const answer = await checked((checker) => model().invoke('x', { callbacks: [recorder, checker] }));

      expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMEnd']);
      expect((recorder.events[1]!.args[0] as LLMResult).llmOutput).toMatchObject({ usage: { input_tokens: 12, output_tokens: 7 }, stop_reason: 'end_turn' });
      expect(answer.content).toBe('a b');
    });

    it('sends the model, max_tokens, the system prompt and the turns, authenticated with the key', async () => {
      server.reply(streamedAnswer(['ok']));

      await model({ maxTokens: 25 }).invoke([
        { role: 'system', content: 'Be brief.' },
        { role: 'human', content: 'Hi' },
        { role: 'ai', content: 'Hello!' },
        { role: 'system', content: 'Rhyme.' },
        { role: 'user', content: 'A joke?' },
        { role: 'assistant', content: 'Sure:' },
      ]);

      expect(server.requests).toHaveLength(1);
      const request = server.requests[0]!;
      expect(request.method).toBe('POST');
      expect(request.url).toBe('/v1/messages');
      expect(request.headers.authorization).toBe('Bearer test-key');
      expect(request.body).toEqual({
        model: 'claude-test-1',
        max_tokens: 25,
        stream: true,
        system: 'Be brief.\n\nRhyme.',
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello!' },
          { role: 'user', content: 'A joke?' },
          { role: 'assistant', content: 'Sure:' },
        ],
      });
    });

    it('sends temperature when given, and leaves it out otherwise', async () => {
      server.reply(streamedAnswer(['ok']));
      server.reply(streamedAnswer(['ok']));
      await model({ temperature: 0.3 }).invoke('Hi');
      await model().invoke('Hi');
      expect(server.requests[0]!.body).toMatchObject({ temperature: 0.3 });
      expect(server.requests[1]!.body).not.toHaveProperty('temperature');
    });

    it('leaves `system` out when there is no system message', async () => {
      server.reply(streamedAnswer(['ok']));
      await model().invoke('Hi');
      expect(server.requests[0]!.body).not.toHaveProperty('system');
    });

    it('turns a 401 into a ProviderError with the status, the type and the request id, reported once', async () => {
      server.reply((res) =>
        sendJson(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }, { 'request-id': 'req_401' }),
      );
      const recorder = new EventRecorder();

      const error = await checked((checker) => model({ streaming: true }).invoke('x', { callbacks: [recorder, checker] }).catch((e: unknown) => e));

      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({
        name: 'ProviderError',
        code: 'PROVIDER_ERROR',
        provider: 'anthropic',
        status: 401,
        requestId: 'req_401',
        type: 'authentication_error',
      });
      expect((error as Error).message).toContain('The Anthropic API answered 401 (authentication_error): invalid x-api-key (request id req_401)');
      expect((error as Error).message).toContain('ANTHROPIC_API_KEY');
      expect((error as ProviderError).cause).toBeDefined();
      expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMError']);
      expect(errorsOf(recorder)).toEqual([error]);
      // A 401 is not retried.
      expect(server.requests).toHaveLength(1);
    });

    it('lets the SDK retry a 429, honouring retry-after-ms, so the run succeeds with one start and one end', async () => {
      server.reply(
        (res) =>
          sendJson(res, 429, { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }, { 'request-id': 'req_429', 'retry-after-ms': '1' }),
        streamedAnswer(['fine'], { requestId: 'req_retry' }),
      );
      const recorder = new EventRecorder();

      const answer = await checked((checker) => model({ streaming: true }).invoke('x', { callbacks: [recorder, checker] }));

      expect(answer.content).toBe('fine');
      expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMEnd']);
      expect((recorder.events[2]!.args[0] as LLMResult).llmOutput).toMatchObject({ request_id: 'req_retry' });
      expect(server.requests.map((r) => r.headers['x-stainless-retry-count'])).toEqual(['0', '1']);
    });

    it('gives up after maxRetries, with the last status', async () => {
      const busy = (res: ServerResponse) =>
        sendJson(res, 529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, { 'request-id': 'req_529', 'retry-after-ms': '1' });
      server.reply(busy, busy);

      const error = await model({ maxRetries: 1 }).invoke('x').catch((e: unknown) => e);

      expect(error).toMatchObject({ code: 'PROVIDER_ERROR', status: 529, type: 'overloaded_error', requestId: 'req_529' });
      expect((error as Error).message).toContain('`maxRetries`');
      expect(server.requests).toHaveLength(2);
    });

    it('fails with one error after the tokens that arrived when the stream sends an overloaded_error event', async () => {
      server.reply(async (res) => {
        startStream(res, 'req_mid');
        await write(res, sse([...openingEvents(), textDelta('Half'), textDelta(' a')]));
        await write(res, sse([{ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }]));
        res.end();
      });
      const recorder = new EventRecorder();

      const error = await checked((checker) => model({ streaming: true }).invoke('x', { callbacks: [recorder, checker] }).catch((e: unknown) => e));

      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({ code: 'PROVIDER_ERROR', status: undefined, type: 'overloaded_error', requestId: 'req_mid' });
      expect((error as Error).message).toContain('error event in the middle of the stream (overloaded_error): Overloaded (request id req_mid)');
      expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMNewToken', 'handleLLMError']);
      expect(tokensOf(recorder)).toEqual(['Half', ' a']);
      expect(errorsOf(recorder)).toEqual([error]);
      // An error event mid-stream is not retried: the tokens were already reported.
      expect(server.requests).toHaveLength(1);
    });

    it('fails with one connection error after the tokens that arrived when the connection is cut mid-stream', async () => {
      const cut = deferred();
      server.reply(heldStream(['Half', ' a'], cut.promise, (res) => res.socket?.destroy()));
      const recorder = new EventRecorder();
      // Cut only once the client has taken both tokens: bytes still buffered when a stream breaks are dropped.
      const cutter = { handleLLMNewToken: () => (tokensOf(recorder).length === 2 ? cut.resolve() : undefined) };

      const error = await checked((checker) => model({ streaming: true }).invoke('x', { callbacks: [recorder, checker, cutter] }).catch((e: unknown) => e));

      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({ code: 'PROVIDER_CONNECTION_ERROR', status: undefined, requestId: 'req_held' });
      expect((error as Error).message).toContain('The connection to the Anthropic API was cut in the middle of the stream (request id req_held)');
      expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMNewToken', 'handleLLMError']);
      expect(errorsOf(recorder)).toEqual([error]);
    });

    it('fails with a connection error when the connection closes before any response, after the SDK retries', async () => {
      const hangUp = (res: ServerResponse): void => {
        res.socket?.destroy();
      };
      server.reply(hangUp, hangUp);
      const recorder = new EventRecorder();

      const error = await model({ maxRetries: 1 }).invoke('x', { callbacks: [recorder] }).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({ code: 'PROVIDER_CONNECTION_ERROR', status: undefined, requestId: undefined });
      expect((error as Error).message).toContain(`Could not reach the Anthropic API at ${server.baseURL} (the SDK tried 2 times`);
      expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMError']);
      expect(server.requests).toHaveLength(2);
    });

    it('fails with a connection error when the stream ends without message_stop', async () => {
      server.reply(async (res) => {
        startStream(res, 'req_short');
        await write(res, sse([...openingEvents(), textDelta('Half')]));
        res.end();
      });

      const error = await model().invoke('x').catch((e: unknown) => e);

      expect(error).toMatchObject({ name: 'ProviderError', code: 'PROVIDER_CONNECTION_ERROR', requestId: 'req_short' });
      expect((error as Error).message).toContain('ended before its `message_stop` event');
    });

    it('aborts the HTTP request when the signal aborts mid-stream, failing with AbortError', async () => {
      const closed = deferred();
      server.reply(async (res) => {
        res.on('close', closed.resolve);
        await heldStream(['Half'], new Promise<void>(() => undefined), () => undefined)(res);
      });
      const controller = new AbortController();
      const recorder = new EventRecorder();
      const aborter = { handleLLMNewToken: () => controller.abort(new Error('user left')) };

      const error = await checked((checker) =>
        model({ streaming: true })
          .invoke('x', { callbacks: [recorder, checker, aborter], signal: controller.signal })
          .catch((e: unknown) => e),
      );

      expect(error).toBeInstanceOf(AbortError);
      expect((error as AbortError).message).toBe('Run `ChatAnthropic` was aborted: user left.');
      expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMError']);
      // The server sees the client close the request it was still answering.
      await closed.promise;
    });

    it('fails with AbortError, sending nothing, when the signal has already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(model().invoke('x', { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
      expect(server.requests).toHaveLength(0);
    });

    it('rejects a tool message with a ConfigError reported as the run error', async () => {
      const recorder = new EventRecorder();
      const error = await model()
        .invoke([{ role: 'tool', content: '42' }], { callbacks: [recorder] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).field).toBe('input[0]');
      expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMError']);
      expect(server.requests).toHaveLength(0);
    });

    describe('without an API key', () => {
      const saved: Record<string, string | undefined> = {};
      const cleared = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'ANTHROPIC_PROFILE', 'ANTHROPIC_IDENTITY_TOKEN', 'ANTHROPIC_IDENTITY_TOKEN_FILE', 'ANTHROPIC_FEDERATION_RULE_ID'];
      let configDir = '';

      beforeAll(() => {
        for (const name of [...cleared, 'ANTHROPIC_CONFIG_DIR']) saved[name] = process.env[name];
        for (const name of cleared) delete process.env[name];
        // The SDK also looks for credential profiles on disk: point it at an empty directory.
        configDir = mkdtempSync(join(tmpdir(), 'callscope-anthropic-'));
        process.env.ANTHROPIC_CONFIG_DIR = configDir;
      });
      afterAll(() => {
        for (const [name, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
        }
        rmSync(configDir, { recursive: true, force: true });
      });

      it('fails with a ProviderError telling to set ANTHROPIC_API_KEY or pass apiKey, sending nothing', async () => {
        const recorder = new EventRecorder();
        const keyless = new ChatAnthropic({ model: 'claude-test-1', maxTokens: 8, baseURL: server.baseURL });

        const error = await keyless.invoke('x', { callbacks: [recorder] }).catch((e: unknown) => e);

        expect(error).toBeInstanceOf(ProviderError);
        expect(error).toMatchObject({ code: 'PROVIDER_ERROR', status: undefined });
        expect((error as Error).message).toContain('set the ANTHROPIC_API_KEY environment variable or pass `apiKey`');
        expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMError']);
        expect(server.requests).toHaveLength(0);
      });
    });

    it('links to the run it is called from, without config passed on', async () => {
      server.reply(streamedAnswer(['Sunny']));
      const chat = model();
      const collector = new RunCollector();
      const forecast = RunnableLambda.from(async (city: string) => (await chat.invoke(`Weather in ${city}?`)).content, { name: 'forecast' });

      const output = await checked((checker) => forecast.invoke('Lisbon', { callbacks: [collector, checker] }));

      expect(output).toBe('Sunny');
      const [root] = collector.runs;
      expect(root).toMatchObject({ name: 'forecast', type: 'chain' });
      expect(root!.children).toHaveLength(1);
      expect(root!.children[0]).toMatchObject({ name: 'ChatAnthropic', type: 'llm', parentRunId: root!.id, tokens: [] });
    });
  });

  describe('.stream()', () => {
    it('yields a chunk per text delta and a last chunk with the response metadata, emitting a token event for each delta', async () => {
      server.reply(streamedAnswer(['One', ' two'], { requestId: 'req_stream' }));
      const recorder = new EventRecorder();

      const chunks = await checked(async (checker) => {
        const received: AIMessageChunk[] = [];
        for await (const chunk of model().stream('Count', { callbacks: [recorder, checker] })) received.push(chunk);
        return received;
      });

      expect(chunks.map((c) => c.content)).toEqual(['One', ' two', '']);
      expect(chunks[2]!.responseMetadata).toMatchObject({ usage: { input_tokens: 12, output_tokens: 7 }, stop_reason: 'end_turn', request_id: 'req_stream' });
      expect(tokensOf(recorder)).toEqual(['One', ' two']);
      const end = recorder.events.at(-1)!;
      expect(end.method).toBe('handleLLMEnd');
      expect((end.args[0] as LLMResult).generations[0]![0]!.text).toBe('One two');
      expect((end.args[0] as LLMResult).llmOutput).toMatchObject({ request_id: 'req_stream', usage: { input_tokens: 12, output_tokens: 7 } });
    });

    it('closes the HTTP request when the consumer stops early, ending the run with what it received', async () => {
      const closed = deferred();
      server.reply(async (res) => {
        res.on('close', closed.resolve);
        await heldStream(['One', ' two'], new Promise<void>(() => undefined), () => undefined)(res);
      });
      const recorder = new EventRecorder();

      await checked(async (checker) => {
        for await (const chunk of model().stream('Count', { callbacks: [recorder, checker] })) {
          if (chunk.content === 'One') break;
        }
      });

      expect(recorder.methods()).toEqual(['handleChatModelStart', 'handleLLMNewToken', 'handleLLMEnd']);
      await closed.promise;
    });
  });
});

describe('examples/async-callbacks.ts', () => {
  it('streams from ChatAnthropic with the seed model and max_tokens when ANTHROPIC_API_KEY is set', async () => {
    server.reply(streamedAnswer(['Why', ' did', ' the', ' chicken'], { requestId: 'req_demo' }));
    const root = join(__dirname, '..', '..');
    // The SDK reads ANTHROPIC_BASE_URL: the example's requests come to this file's loopback server.
    const env = { ...process.env, ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: server.baseURL };
    const child = spawn(join(root, 'node_modules', '.bin', 'tsx'), ['examples/async-callbacks.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });

    expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: '' });
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('Model: ChatAnthropic claude-3-7-sonnet-20250219 (Anthropic API, ANTHROPIC_API_KEY is set)');
    expect(lines).toContain('Sync handler called synchronously: token:  chicken');
    expect(lines).toContain('llm ChatAnthropic  4 tokens  in: "Tell me a joke"  out: "Why did the chicken"');
    expect(server.requests[0]!.body).toMatchObject({ model: 'claude-3-7-sonnet-20250219', max_tokens: 25, stream: true });
  }, 30_000);
});

describe('ChatAnthropic loading', () => {
  it('does not load @anthropic-ai/sdk when callscope or callscope/anthropic is imported or a model is built', () => {
    const script = `
      const path = require('node:path');
      const sdk = path.sep + path.join('node_modules', '@anthropic-ai', 'sdk') + path.sep;
      const loaded = () => Object.keys(require.cache).some((file) => file.includes(sdk));
      require('./lib');
      const { ChatAnthropic } = require('./lib/anthropic');
      const afterImport = loaded();
      const model = new ChatAnthropic({ model: 'm', maxTokens: 1, apiKey: 'k', baseURL: 'http://127.0.0.1:9' });
      const afterConstruct = loaded();
      model.invoke('x', { signal: AbortSignal.abort() }).catch(() => {
        console.log(JSON.stringify({ afterImport, afterConstruct }));
      });
    `;
    const child = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], { cwd: join(__dirname, '..', '..'), encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual({ afterImport: false, afterConstruct: false });
  });
});
