// Types only: importing callscope must not load `@anthropic-ai/sdk`, an optional peer dependency. The
// package itself is loaded with requireOptional on a model's first call.
import type { Anthropic, APIConnectionError, APIError, APIUserAbortError, ClientOptions } from '@anthropic-ai/sdk';
import { z } from 'zod';
import type { AIMessageChunk, Callbacks, ChatMessage, RunnableConfig } from '../index';
import {
  AbortError,
  ConfigError,
  ProviderError,
  BaseChatModel,
  abortErrorFor,
  describeValue,
  parseOrThrow,
  requireOptional,
  RunScope,
} from '../internal/for-integrations';

/** Options of {@link ChatAnthropic}. */
export interface ChatAnthropicOptions {
  /** The model to call, such as `'claude-sonnet-4-5'` (the API's `model`). */
  model: string;
  /** The most tokens the model may generate (the API's `max_tokens`). */
  maxTokens: number;
  /**
   * Sampling temperature, 0 to 1, sent as the API's `temperature` when given. The API version that
   * `@anthropic-ai/sdk` 1.x sends no longer lists sampling parameters; if the API refuses it, the call fails
   * with a `ProviderError` (status 400) saying so. Leave it out unless your model and API version take it.
   * @default undefined (not sent)
   */
  temperature?: number;
  /** Anthropic API key. @default `process.env.ANTHROPIC_API_KEY`, read by the SDK on the first call */
  apiKey?: string;
  /** Base URL of the API, such as a proxy's. @default `process.env.ANTHROPIC_BASE_URL`, else `https://api.anthropic.com` */
  baseURL?: string;
  /**
   * Emit `handleLLMNewToken` for each text delta during `invoke` too (`stream` always does).
   * @default false
   */
  streaming?: boolean;
  /** Handlers for every run of this model. */
  callbacks?: Callbacks;
  /**
   * How many times the SDK retries a request that failed with 408, 409, 429 or 5xx, or could not connect,
   * honouring `retry-after` headers. callscope does not retry on its own.
   * @default 2
   */
  maxRetries?: number;
  /** Name of the model's runs. @default 'ChatAnthropic' */
  name?: string;
}

const optionsSchema = z.strictObject({
  model: z.string().min(1),
  maxTokens: z.number().int().min(1),
  temperature: z.number().min(0).max(1).optional(),
  apiKey: z.string().min(1).optional(),
  baseURL: z.url({ protocol: /^https?$/ }).optional(),
  streaming: z.boolean().optional(),
  callbacks: z.unknown().optional(),
  maxRetries: z.number().int().min(0).optional(),
  name: z.string().min(1).optional(),
});

const expectations = {
  model: 'a non-empty string naming an Anthropic model',
  maxTokens: 'a whole number of tokens, 1 or more',
  temperature: 'a number from 0 to 1',
  apiKey: 'a non-empty string',
  baseURL: 'an http or https URL',
  streaming: 'a boolean',
  callbacks: 'an array of handlers or a CallbackManager',
  maxRetries: 'a whole number, 0 or more',
  name: 'a non-empty string',
};

/** What callscope uses of `@anthropic-ai/sdk`. */
interface AnthropicSdk {
  Anthropic: new (options: ClientOptions) => Anthropic;
  APIError: typeof APIError;
  APIConnectionError: typeof APIConnectionError;
  APIUserAbortError: typeof APIUserAbortError;
}

const PROVIDER = 'anthropic';
// The SDK's status retries (see its shouldRetry): 408, 409, 429 and 5xx.
const RETRIED_STATUSES = /^(408|409|429|5\d\d)$/;

/**
 * The SDK client of a model, created on the first call and shared with the copies `withConfig` and
 * `withCallbacks` make. The API key lives in a private field so that logging the model does not print it.
 */
class AnthropicConnection {
  readonly #options: ClientOptions;
  #client: Anthropic | undefined;

  constructor(options: ClientOptions) {
    this.#options = options;
  }

  client(sdk: AnthropicSdk): Anthropic {
    // Created at the first call, not in the model's constructor: the SDK reads ANTHROPIC_API_KEY (and its
    // other credential sources) when the client is made.
    this.#client ??= new sdk.Anthropic(this.#options);
    return this.#client;
  }

  /** Where the client sends requests (`baseURL`, `ANTHROPIC_BASE_URL` or the SDK's default), once it exists. */
  get baseURL(): string | undefined {
    return this.#client?.baseURL;
  }
}

/**
 * A chat model backed by Anthropic's Messages API, through the official `@anthropic-ai/sdk` (an optional
 * peer dependency, loaded on the first call). It behaves like {@link FakeChatModel}: `invoke` and `stream`,
 * `handleChatModelStart`, one `handleLLMNewToken` per text delta, then `handleLLMEnd` whose result carries
 * the token usage and the stop reason, or `handleLLMError` with a {@link ProviderError}.
 *
 * Every call streams (`stream: true`), also `invoke` with `streaming: false`: that flag only decides
 * whether `invoke` reports the tokens. The run's `signal` aborts the HTTP request. Retries are the SDK's
 * (`maxRetries`).
 *
 * @example
 * ```ts
 * const model = new ChatAnthropic({ model: 'claude-sonnet-4-5', maxTokens: 256, streaming: true });
 * const answer = await model.invoke('Tell me a joke', { callbacks: [new ConsoleTracer()] });
 * ```
 */
export class ChatAnthropic extends BaseChatModel {
  /** The model the API is asked for. */
  readonly model: string;
  /** The API's `max_tokens`. */
  readonly maxTokens: number;
  /** The API's `temperature`, when set. */
  readonly temperature: number | undefined;
  /** The most retries the SDK makes per call. */
  readonly maxRetries: number;
  /** Where requests go, when set (otherwise the SDK's default). */
  readonly baseURL: string | undefined;
  private readonly connection: AnthropicConnection;

  /** @throws {@link ConfigError} naming the first invalid option. */
  constructor(options: ChatAnthropicOptions) {
    const parsed = parseOrThrow(optionsSchema, options, 'ChatAnthropic options', expectations);
    super({ streaming: parsed.streaming, callbacks: options.callbacks, name: parsed.name ?? 'ChatAnthropic' });
    this.model = parsed.model;
    this.maxTokens = parsed.maxTokens;
    this.temperature = parsed.temperature;
    this.maxRetries = parsed.maxRetries ?? 2;
    this.baseURL = parsed.baseURL;
    this.connection = new AnthropicConnection({ apiKey: parsed.apiKey, baseURL: parsed.baseURL, maxRetries: this.maxRetries });
  }

  /** `{ model, max_tokens, temperature?, streaming, provider: 'anthropic' }`, reported as `extraParams.invocation_params`. */
  override invocationParams(): Record<string, unknown> {
    // `provider` lets tracers name the provider (OpenTelemetry's `gen_ai.provider.name`) whatever the run's name.
    const params: Record<string, unknown> = { model: this.model, max_tokens: this.maxTokens, streaming: this.streaming, provider: PROVIDER };
    if (this.temperature !== undefined) params.temperature = this.temperature;
    return params;
  }

  /**
   * Streams one answer from the Messages API: a chunk per text delta, then a last chunk with empty content
   * whose `responseMetadata` holds `id`, `model`, `stop_reason`, `stop_sequence`, `usage` and `request_id`.
   *
   * @throws {@link ProviderError} when the API or the connection fails; {@link AbortError} when
   *   `config.signal` aborts; {@link ConfigError} for a `tool` message, which the API cannot take as text.
   */
  override async *_streamChunks(messages: readonly ChatMessage[], config: RunnableConfig): AsyncGenerator<AIMessageChunk, void, undefined> {
    const { system, turns } = toAnthropicMessages(messages);
    const sdk = requireOptional<AnthropicSdk>('@anthropic-ai/sdk', 'ChatAnthropic');
    const params: Anthropic.MessageCreateParamsStreaming = { model: this.model, max_tokens: this.maxTokens, messages: turns, stream: true };
    if (system !== undefined) params.system = system;
    // Not in the SDK 1.x request types (see `temperature` in the options), so added to the body as given.
    if (this.temperature !== undefined) (params as unknown as Record<string, unknown>).temperature = this.temperature;
    const signal = config.signal;

    const metadata: ResponseMetadata = { id: undefined, model: this.model, stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 }, request_id: undefined };
    let phase: 'request' | 'stream' = 'request';
    let stopped = false;
    try {
      const response = await this.connection
        .client(sdk)
        .messages.create(params, signal === undefined ? undefined : { signal })
        .withResponse();
      metadata.request_id = response.request_id ?? undefined;
      phase = 'stream';
      for await (const event of response.data) {
        switch (event.type) {
          case 'message_start':
            metadata.id = event.message.id;
            metadata.model = event.message.model;
            metadata.usage = readUsage(metadata.usage, event.message.usage);
            break;
          case 'content_block_start':
            if (event.content_block.type === 'text' && event.content_block.text !== '') yield { role: 'ai', content: event.content_block.text };
            break;
          case 'content_block_delta':
            // Thinking, signature, citation and tool-input deltas are not text of the answer.
            if (event.delta.type === 'text_delta' && event.delta.text !== '') yield { role: 'ai', content: event.delta.text };
            break;
          case 'message_delta':
            metadata.stop_reason = event.delta.stop_reason;
            metadata.stop_sequence = event.delta.stop_sequence;
            metadata.usage = readUsage(metadata.usage, event.usage);
            break;
          case 'message_stop':
            stopped = true;
            break;
          default:
            break;
        }
      }
    } catch (error) {
      throw this.toError(error, sdk, config, phase, metadata.request_id);
    }
    // The SDK ends its stream quietly when the request is aborted: the answer is cut short, not complete.
    if (signal?.aborted) throw abortError(this.name, config, signal);
    if (!stopped) {
      throw new ProviderError({
        provider: PROVIDER,
        code: 'PROVIDER_CONNECTION_ERROR',
        message: `The Anthropic API stream ended before its \`message_stop\` event, so the answer is incomplete${requestIdText(metadata.request_id)}. Try the call again.`,
        requestId: metadata.request_id,
      });
    }
    yield { role: 'ai', content: '', responseMetadata: { ...metadata, usage: { ...metadata.usage } } };
  }

  /** Turns whatever the SDK threw into the error the run fails with. */
  private toError(error: unknown, sdk: AnthropicSdk, config: RunnableConfig, phase: 'request' | 'stream', requestId: string | undefined): Error {
    const signal = config.signal;
    if (signal?.aborted) return abortError(this.name, config, signal);
    const detail = messageOf(error);
    if (error instanceof sdk.APIConnectionError) {
      const retried = this.maxRetries > 0 ? ` (the SDK tried ${this.maxRetries + 1} times, \`maxRetries\`: ${this.maxRetries})` : '';
      return new ProviderError({
        provider: PROVIDER,
        code: 'PROVIDER_CONNECTION_ERROR',
        message: `Could not reach the Anthropic API at ${this.connection.baseURL ?? this.baseURL ?? 'its default URL'}${retried}: ${detail}. Check the network, and \`baseURL\` if you set it.`,
        requestId,
        cause: error,
      });
    }
    if (error instanceof sdk.APIError && !(error instanceof sdk.APIUserAbortError)) {
      const status: number | undefined = (error as APIError).status;
      const type = error.type ?? undefined;
      const id = error.requestID ?? requestId;
      const what = error.apiMessage ?? detail;
      const message =
        status === undefined
          ? `The Anthropic API sent an error event in the middle of the stream (${type ?? 'unknown type'}): ${what}${requestIdText(id)}. Try the call again.`
          : `The Anthropic API answered ${status}${type === undefined ? '' : ` (${type})`}: ${what}${requestIdText(id)}. ${adviceFor(status, this.maxRetries)}`;
      return new ProviderError({ provider: PROVIDER, code: 'PROVIDER_ERROR', message, status, requestId: id, type, cause: error });
    }
    if (phase === 'request' && /authentication|credential/i.test(detail)) {
      return new ProviderError({
        provider: PROVIDER,
        code: 'PROVIDER_ERROR',
        message: `ChatAnthropic has no Anthropic API key: set the ANTHROPIC_API_KEY environment variable or pass \`apiKey\` to new ChatAnthropic({ ... }). The SDK said: ${detail}`,
        cause: error,
      });
    }
    if (phase === 'stream' && !(error instanceof sdk.APIError) && nameOf(error) !== 'SyntaxError') {
      // What fetch throws when the body stops arriving (undici's "terminated" when the socket closes).
      return new ProviderError({
        provider: PROVIDER,
        code: 'PROVIDER_CONNECTION_ERROR',
        message: `The connection to the Anthropic API was cut in the middle of the stream${requestIdText(requestId)}: ${detail}. Try the call again.`,
        requestId,
        cause: error,
      });
    }
    return new ProviderError({
      provider: PROVIDER,
      code: 'PROVIDER_ERROR',
      message: `The Anthropic SDK failed the call${requestIdText(requestId)}: ${detail}.`,
      requestId,
      cause: error,
    });
  }
}

interface ResponseMetadata {
  id: string | undefined;
  model: string;
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: Usage;
  request_id: string | undefined;
}

interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

interface ReportedUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

// `message_start` brings the input tokens; `message_delta` the cumulative output tokens (and, on newer
// API versions, cumulative input counts, which then win).
function readUsage(previous: Usage, reported: ReportedUsage): Usage {
  const usage: Usage = { ...previous };
  if (typeof reported.input_tokens === 'number') usage.input_tokens = reported.input_tokens;
  if (typeof reported.output_tokens === 'number') usage.output_tokens = reported.output_tokens;
  if (typeof reported.cache_creation_input_tokens === 'number') usage.cache_creation_input_tokens = reported.cache_creation_input_tokens;
  if (typeof reported.cache_read_input_tokens === 'number') usage.cache_read_input_tokens = reported.cache_read_input_tokens;
  return usage;
}

/**
 * callscope messages as the Messages API takes them: system messages (joined by a blank line) become the
 * `system` parameter, human and user turns `user`, AI and assistant turns `assistant`.
 *
 * @throws {@link ConfigError} for a `tool` message.
 */
function toAnthropicMessages(messages: readonly ChatMessage[]): { system: string | undefined; turns: Anthropic.MessageParam[] } {
  const system: string[] = [];
  const turns: Anthropic.MessageParam[] = [];
  messages.forEach((message, index) => {
    switch (message.role) {
      case 'system':
        system.push(message.content);
        break;
      case 'human':
      case 'user':
        turns.push({ role: 'user', content: message.content });
        break;
      case 'ai':
      case 'assistant':
        turns.push({ role: 'assistant', content: message.content });
        break;
      case 'tool':
        throw new ConfigError(
          `input[${index}]`,
          message,
          `ChatAnthropic cannot send \`input[${index}]\`, a \`tool\` message: the Messages API takes tool results only as blocks tied to a tool_use id. Send the tool's output as a human message instead, got ${describeValue(message)}.`,
          { code: 'INVALID_ARGUMENT' },
        );
    }
  });
  return { system: system.length === 0 ? undefined : system.join('\n\n'), turns };
}

function abortError(runName: string, config: RunnableConfig, signal: AbortSignal): AbortError {
  return config instanceof RunScope ? abortErrorFor(config, signal) : new AbortError(runName, signal.reason);
}

function adviceFor(status: number, maxRetries: number): string {
  if (status === 401) return 'Check the API key: the ANTHROPIC_API_KEY environment variable, or `apiKey`.';
  if (status === 403) return 'The API key is not allowed to do this; check its workspace and permissions.';
  if (status === 404) return 'Check `model` and `baseURL`.';
  if (RETRIED_STATUSES.test(String(status))) {
    return `The SDK retries this status up to ${maxRetries} ${maxRetries === 1 ? 'time' : 'times'} (\`maxRetries\`) before giving up; try again later or raise \`maxRetries\`.`;
  }
  return 'Check the request: the model, `maxTokens`, `temperature` and the messages.';
}

function requestIdText(requestId: string | undefined): string {
  return requestId === undefined ? '' : ` (request id ${requestId})`;
}

// Errors from the SDK are created in Node's own realm, which under test runners can differ from the
// caller's: read them by shape, not with `instanceof Error`.
function messageOf(error: unknown): string {
  // Follow `cause` a few levels: "Connection error: fetch failed: connect ECONNREFUSED 127.0.0.1:9".
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth++) {
    const { message, cause } = current as { message?: unknown; cause?: unknown };
    const text = typeof message === 'string' ? message.trim().replace(/\.$/, '') : '';
    if (text !== '' && !parts.some((part) => part.includes(text))) parts.push(text);
    current = cause;
  }
  return parts.length === 0 ? String(error) : parts.join(': ');
}

function nameOf(error: unknown): string | undefined {
  return error !== null && typeof error === 'object' && typeof (error as { name?: unknown }).name === 'string' ? (error as { name: string }).name : undefined;
}
