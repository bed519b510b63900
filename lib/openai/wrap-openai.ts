// No import of `openai`, not even of its types: the client is read by shape, so any client of the SDK's
// current design (or a subclass, or one from another copy of the package, or a compatible provider's) can be
// wrapped.
import type { AIMessageChunk, ChatMessage, MessageRole } from '../index';
import {
  ConfigError,
  ProviderError,
  CLIENT_OPTION_EXPECTATIONS,
  clientOptionFields,
  lazySchema,
  contentText,
  describeValue,
  ModelCall,
  parseClientOptions,
  reportedMessage,
  proxyResource,
  traceCreate,
  traceHelperStream,
  type ClientSettings,
  type MethodTracing,
  type SdkMethod,
  type StreamAccumulator,
} from '../internal/for-integrations';

/** Options of {@link wrapOpenAI}. */
export interface WrapOpenAIOptions {
  /** Name of the model runs. @default 'ChatOpenAI' */
  name?: string;
  /** Tags of every model run of this client. @default none */
  tags?: readonly string[];
  /** Metadata of every model run of this client (the `ls_*` keys of each call are added). @default none */
  metadata?: Record<string, unknown>;
  /**
   * The provider reported in `ls_provider` and `invocation_params.provider`, for an OpenAI-compatible API
   * of another provider.
   * @default 'openai'
   */
  provider?: string;
}

/** The shape of an OpenAI client that {@link wrapOpenAI} needs: `chat.completions.create`. */
export interface OpenAIClientLike {
  readonly chat: { readonly completions: { create(...args: never[]): unknown } };
}

const optionsSchema = lazySchema((z) => z.strictObject({ ...clientOptionFields(z), provider: z.string().min(1).optional() }));

const expectations = { ...CLIENT_OPTION_EXPECTATIONS, provider: 'a non-empty string' };

const wrapped = new WeakSet<object>();

/**
 * Reports every model call of an `openai` client as a chat model run of callscope, nested under the run
 * active where it is made (a root run when none is).
 *
 * Covered: `chat.completions.create` (streamed or not), `chat.completions.stream` and `responses.create`
 * (streamed or not). Each call is one run whatever the SDK retries: `handleChatModelStart` with the messages
 * (system and developer messages, and the Responses API's `instructions`, as system messages), the
 * request's parameters as `invocation_params` and LangChain's `ls_*` metadata; one `handleLLMNewToken` per
 * text delta of a streamed answer; then `handleLLMEnd` with the message and, in its `llmOutput`, `id`,
 * `model`, `finish_reason`, `usage` and `request_id`, or `handleLLMError` with the SDK's error (an abort is
 * reported as callscope's `AbortError`; a stream that ends without its closing event, or a Responses stream
 * that reports a failure, as a `ProviderError`). Ask for `stream_options: { include_usage: true }` to get
 * the usage of a streamed chat completion.
 *
 * The caller gets exactly what the SDK returns: the same completion or response, the same `Stream` (with
 * `controller`, `tee()`, `toReadableStream()`), the same `ChatCompletionStream`; `withResponse()` and
 * `asResponse()` work as before. The request is sent at once. When the caller passes no `signal`, the run's
 * signal aborts the request. Every other method passes through untouched.
 *
 * @param client - an `OpenAI` client instance.
 * @param options - see {@link WrapOpenAIOptions}.
 * @returns the same client, seen through a proxy, with its exact type.
 * @throws {@link ConfigError} when `client` has no `chat.completions.create` or an option is invalid or unknown.
 * @example
 * ```ts
 * import OpenAI from 'openai';
 * import { wrapOpenAI } from 'callscope/openai';
 *
 * const openai = wrapOpenAI(new OpenAI());
 * const stream = await openai.chat.completions.create({
 *   model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true },
 * });
 * ```
 */
export function wrapOpenAI<TClient extends OpenAIClientLike>(client: TClient, options?: WrapOpenAIOptions): TClient {
  const completions = (client as { chat?: { completions?: { create?: unknown } } } | null | undefined)?.chat?.completions;
  if (client === null || typeof client !== 'object' || typeof completions?.create !== 'function') {
    throw new ConfigError('client', client, `Expected wrapOpenAI() to receive an OpenAI client (with \`chat.completions.create\`), got ${describeValue(client)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  if (wrapped.has(client)) return client;
  const parsed = parseClientOptions('wrapOpenAI()', options, optionsSchema, expectations, 'ChatOpenAI');
  const settings: Settings = { name: parsed.name, provider: parsed.options.provider ?? 'openai', bound: parsed.bound };
  const chat = chatTracing(settings);
  const responses = responsesTracing(settings);
  const proxy = proxyResource(client, {
    chat: (resource) =>
      proxyResource(resource as object, {
        completions: (inner) =>
          proxyResource(inner as object, {
            create: (create, target) => traceCreate(chat, create as SdkMethod, target),
            stream: (stream, target) => traceHelperStream(chat, stream as SdkMethod, target, 'chunk'),
          }),
      }),
    responses: (resource) =>
      proxyResource(resource as object, {
        create: (create, target) => traceCreate(responses, create as SdkMethod, target),
      }),
  });
  wrapped.add(proxy);
  return proxy;
}

interface Settings {
  readonly name: string;
  readonly provider: string;
  readonly bound: ClientSettings<WrapOpenAIOptions>['bound'];
}

function open(settings: Settings, messages: ChatMessage[], params: Record<string, unknown>, maxTokens: unknown): ModelCall | undefined {
  const lsMetadata: Record<string, unknown> = { ls_provider: settings.provider, ls_model_type: 'chat' };
  if (typeof params.model === 'string') lsMetadata.ls_model_name = params.model;
  if (typeof params.temperature === 'number') lsMetadata.ls_temperature = params.temperature;
  if (typeof maxTokens === 'number') lsMetadata.ls_max_tokens = maxTokens;
  if (typeof params.stop === 'string' || Array.isArray(params.stop)) lsMetadata.ls_stop = params.stop;
  return ModelCall.open({ name: settings.name, messages, params: { ...params, provider: settings.provider }, lsMetadata, bound: settings.bound });
}

// ---- Chat Completions -------------------------------------------------------------------------------

function chatTracing(settings: Settings): MethodTracing<unknown> {
  return {
    provider: settings.provider,
    requestIdHeader: 'x-request-id',
    open(body) {
      const { messages, ...params } = isRecord(body) ? body : {};
      return open(settings, chatMessages(messages), params, params.max_completion_tokens ?? params.max_tokens);
    },
    accumulator: () => new ChunkAccumulator(),
    messageOf(data, requestId) {
      const completion = isRecord(data) ? data : {};
      const choice = firstChoice(completion.choices);
      const message = isRecord(choice?.message) ? choice.message : {};
      return reportedMessage(
        typeof message.content === 'string' ? message.content : '',
        {
          id: completion.id,
          model: completion.model,
          finish_reason: choice?.finish_reason ?? null,
          usage: completion.usage,
          system_fingerprint: completion.system_fingerprint,
          request_id: requestId,
        }
      );
    },
  };
}

const CHAT_ROLES: Readonly<Record<string, MessageRole>> = { system: 'system', developer: 'system', user: 'human', assistant: 'ai', tool: 'tool', function: 'tool' };

function chatMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages)) return [];
  const out: ChatMessage[] = [];
  for (const message of messages as unknown[]) {
    if (!isRecord(message)) continue;
    const role = typeof message.role === 'string' ? (CHAT_ROLES[message.role] ?? 'human') : 'human';
    out.push({ role, content: contentText(message.content) });
  }
  return out;
}

function firstChoice(choices: unknown): Record<string, unknown> | undefined {
  if (!Array.isArray(choices)) return undefined;
  const choice: unknown = (choices as unknown[]).find((candidate) => isRecord(candidate) && (candidate.index === 0 || candidate.index === undefined));
  return isRecord(choice) ? choice : undefined;
}

/** Reads chat completion chunks: content deltas of the first choice, its finish reason, and the usage chunk. */
class ChunkAccumulator implements StreamAccumulator<unknown> {
  private text = '';
  private id: unknown = undefined;
  private model: unknown = undefined;
  private finishReason: unknown = null;
  private usage: unknown = undefined;

  add(chunk: unknown): string | undefined {
    if (!isRecord(chunk)) return undefined;
    this.id ??= chunk.id;
    this.model ??= chunk.model;
    // With `stream_options.include_usage`, a last chunk with no choices carries the usage.
    if (isRecord(chunk.usage)) this.usage = chunk.usage;
    const choice = firstChoice(chunk.choices);
    if (choice === undefined) return undefined;
    if (typeof choice.finish_reason === 'string') this.finishReason = choice.finish_reason;
    const delta = isRecord(choice.delta) ? choice.delta : {};
    if (typeof delta.content !== 'string' || delta.content === '') return undefined;
    this.text += delta.content;
    return delta.content;
  }

  complete(): boolean {
    return this.finishReason !== null;
  }

  message(requestId: string | undefined): AIMessageChunk {
    return reportedMessage(
      this.text,
      { id: this.id, model: this.model, finish_reason: this.finishReason, usage: this.usage, request_id: requestId }
    );
  }
}

// ---- Responses ----------------------------------------------------------------------------------------

function responsesTracing(settings: Settings): MethodTracing<unknown> {
  return {
    provider: settings.provider,
    requestIdHeader: 'x-request-id',
    open(body) {
      const { input, instructions, ...params } = isRecord(body) ? body : {};
      const messages = responseMessages(input);
      if (typeof instructions === 'string' && instructions !== '') messages.unshift({ role: 'system', content: instructions });
      return open(settings, messages, params, params.max_output_tokens);
    },
    accumulator: () => new ResponseAccumulator(settings.provider),
    messageOf: (data, requestId) => responseMessage(isRecord(data) ? data : {}, undefined, requestId),
  };
}

function responseMessages(input: unknown): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'human', content: input }];
  if (!Array.isArray(input)) return [];
  const out: ChatMessage[] = [];
  for (const item of input as unknown[]) {
    if (!isRecord(item)) continue;
    if (typeof item.role === 'string') out.push({ role: CHAT_ROLES[item.role] ?? 'human', content: contentText(item.content) });
    else if (item.type === 'function_call_output') out.push({ role: 'tool', content: contentText(item.output) });
  }
  return out;
}

/** A Responses API response as the message a run ends with; `text` when it was streamed. */
function responseMessage(response: Record<string, unknown>, text: string | undefined, requestId: string | undefined): AIMessageChunk {
  const incomplete = isRecord(response.incomplete_details) ? response.incomplete_details.reason : undefined;
  return reportedMessage(
    text ?? outputText(response),
    {
      id: response.id,
      model: response.model,
      status: response.status,
      // The Responses API has no finish reason; its status (or why it is incomplete) says the same.
      finish_reason: typeof incomplete === 'string' ? incomplete : response.status,
      usage: response.usage,
      request_id: requestId,
    }
  );
}

function outputText(response: Record<string, unknown>): string {
  if (typeof response.output_text === 'string') return response.output_text;
  let text = '';
  for (const item of Array.isArray(response.output) ? (response.output as unknown[]) : []) {
    if (!isRecord(item) || item.type !== 'message' || !Array.isArray(item.content)) continue;
    for (const part of item.content as unknown[]) if (isRecord(part) && part.type === 'output_text' && typeof part.text === 'string') text += part.text;
  }
  return text;
}

/** Reads Responses API events: text deltas, then the final response (or its failure). */
class ResponseAccumulator implements StreamAccumulator<unknown> {
  private text = '';
  private response: Record<string, unknown> = {};
  private done = false;
  private failed: Error | undefined;

  constructor(private readonly provider: string) {}

  add(event: unknown): string | undefined {
    if (!isRecord(event)) return undefined;
    switch (event.type) {
      case 'response.created':
      case 'response.in_progress':
        if (isRecord(event.response)) this.response = event.response;
        return undefined;
      case 'response.output_text.delta':
        if (typeof event.delta !== 'string' || event.delta === '') return undefined;
        this.text += event.delta;
        return event.delta;
      case 'response.completed':
      case 'response.incomplete':
        if (isRecord(event.response)) this.response = event.response;
        this.done = true;
        return undefined;
      case 'response.failed': {
        if (isRecord(event.response)) this.response = event.response;
        const error = isRecord(this.response.error) ? this.response.error : {};
        this.failed ??= this.providerError(error.code, error.message);
        return undefined;
      }
      case 'error':
        this.failed ??= this.providerError(event.code, event.message);
        return undefined;
      default:
        return undefined;
    }
  }

  complete(): boolean {
    return this.done;
  }

  failure(): Error | undefined {
    return this.failed;
  }

  message(requestId: string | undefined): AIMessageChunk {
    return responseMessage(this.response, this.text, requestId);
  }

  private providerError(code: unknown, message: unknown): ProviderError {
    const type = typeof code === 'string' ? code : undefined;
    return new ProviderError({
      provider: this.provider,
      code: 'PROVIDER_ERROR',
      message: `The Responses API stream reported a failure${type === undefined ? '' : ` (${type})`}: ${typeof message === 'string' ? message : 'no message'}.`,
      type,
    });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
