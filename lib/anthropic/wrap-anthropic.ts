// No import of `@anthropic-ai/sdk`, not even of its types: the client is read by shape, so any 1.x client
// (or a subclass, or a client from another copy of the package) can be wrapped.
import type { AIMessageChunk, ChatMessage } from '../index';
import {
  ConfigError,
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

/** Options of {@link wrapAnthropic}. */
export interface WrapAnthropicOptions {
  /** Name of the model runs. @default 'ChatAnthropic' */
  name?: string;
  /** Tags of every model run of this client. @default none */
  tags?: readonly string[];
  /** Metadata of every model run of this client (the `ls_*` keys of each call are added). @default none */
  metadata?: Record<string, unknown>;
}

/** The shape of an Anthropic client that {@link wrapAnthropic} needs: `messages.create`. */
export interface AnthropicClientLike {
  readonly messages: { create(...args: never[]): unknown };
}

const optionsSchema = lazySchema((z) => z.strictObject(clientOptionFields(z)));

const expectations = CLIENT_OPTION_EXPECTATIONS;

const PROVIDER = 'anthropic';
const wrapped = new WeakSet<object>();

/**
 * Reports every model call of an `@anthropic-ai/sdk` client as a chat model run of callscope, nested under
 * the run active where it is made (a root run when none is).
 *
 * Covered: `messages.create` (streamed or not) and `messages.stream`. Each call is one run whatever the
 * SDK retries: `handleChatModelStart` with the messages (the system prompt first, as a system message), the
 * request's parameters as `invocation_params` and LangChain's `ls_*` metadata; one `handleLLMNewToken` per
 * text delta of a streamed answer; then `handleLLMEnd` with the message and, in its `llmOutput`, `id`,
 * `model`, `stop_reason`, `stop_sequence`, `usage` and `request_id`, or `handleLLMError` with the SDK's error
 * (an abort is reported as callscope's `AbortError`, a stream cut short before `message_stop` as a
 * `ProviderError`).
 *
 * The caller gets exactly what the SDK returns: the same message, the same `Stream` (with `controller`,
 * `tee()`, `toReadableStream()`), the same `MessageStream`; `withResponse()` and `asResponse()` work as
 * before. The request is sent at once. When the caller passes no `signal`, the run's signal (from
 * `config.signal` or a timeout of an enclosing run) aborts the request. Every other method passes through
 * untouched.
 *
 * A streamed call's run ends when its stream is read to the end (or the consumer stops, or it fails or is
 * aborted); a non-streamed call's when its answer arrives, whether or not it is awaited.
 *
 * @param client - an `Anthropic` client instance.
 * @param options - see {@link WrapAnthropicOptions}.
 * @returns the same client, seen through a proxy, with its exact type.
 * @throws {@link ConfigError} when `client` has no `messages.create` or an option is invalid or unknown.
 * @example
 * ```ts
 * import Anthropic from '@anthropic-ai/sdk';
 * import { wrapAnthropic } from 'callscope/anthropic';
 *
 * const anthropic = wrapAnthropic(new Anthropic());
 * const answer = traceable(async (question: string) =>
 *   anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: question }] }));
 * ```
 */
export function wrapAnthropic<TClient extends AnthropicClientLike>(client: TClient, options?: WrapAnthropicOptions): TClient {
  const messages = (client as { messages?: { create?: unknown } } | null | undefined)?.messages;
  if (client === null || typeof client !== 'object' || typeof messages?.create !== 'function') {
    throw new ConfigError('client', client, `Expected wrapAnthropic() to receive an Anthropic client (with \`messages.create\`), got ${describeValue(client)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  if (wrapped.has(client)) return client;
  const tracing = tracingFor(parseClientOptions('wrapAnthropic()', options, optionsSchema, expectations, 'ChatAnthropic'));
  const proxy = proxyResource(client, {
    messages: (resource) =>
      proxyResource(resource as object, {
        create: (create, target) => traceCreate(tracing, create as SdkMethod, target),
        stream: (stream, target) => traceHelperStream(tracing, stream as SdkMethod, target, 'streamEvent'),
      }),
  });
  wrapped.add(proxy);
  return proxy;
}

type Settings = ClientSettings<WrapAnthropicOptions>;

function tracingFor(settings: Settings): MethodTracing<unknown> {
  return {
    provider: PROVIDER,
    open: (body) => openCall(settings, body),
    requestIdHeader: 'request-id',
    accumulator: () => new MessageAccumulator(),
    messageOf,
  };
}

function openCall(settings: Settings, body: unknown): ModelCall | undefined {
  const params = isRecord(body) ? body : {};
  const { messages, system, ...rest } = params;
  const invocationParams: Record<string, unknown> = { ...rest, provider: PROVIDER };
  const lsMetadata: Record<string, unknown> = { ls_provider: PROVIDER, ls_model_type: 'chat' };
  if (typeof params.model === 'string') lsMetadata.ls_model_name = params.model;
  if (typeof params.temperature === 'number') lsMetadata.ls_temperature = params.temperature;
  if (typeof params.max_tokens === 'number') lsMetadata.ls_max_tokens = params.max_tokens;
  if (Array.isArray(params.stop_sequences)) lsMetadata.ls_stop = params.stop_sequences;
  return ModelCall.open({ name: settings.name, messages: toMessages(system, messages), params: invocationParams, lsMetadata, bound: settings.bound });
}

/** The request's messages as callscope messages: the system prompt first, then the turns. */
function toMessages(system: unknown, messages: unknown): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (system !== undefined && system !== null) out.push({ role: 'system', content: contentText(system) });
  if (Array.isArray(messages)) {
    for (const message of messages as unknown[]) {
      if (!isRecord(message)) continue;
      out.push({ role: message.role === 'assistant' ? 'ai' : 'human', content: contentText(message.content) });
    }
  }
  return out;
}

/** A whole (non-streamed) Messages API answer as the message the run ends with. */
function messageOf(data: unknown, requestId: string | undefined): AIMessageChunk {
  const message = isRecord(data) ? data : {};
  const content = Array.isArray(message.content) ? textOf(message.content as unknown[]) : '';
  return reportedMessage(content, {
      id: message.id,
      model: message.model,
      stop_reason: message.stop_reason ?? null,
      stop_sequence: message.stop_sequence ?? null,
      usage: message.usage,
      request_id: requestId ?? (typeof message._request_id === 'string' ? message._request_id : undefined),
  });
}

function textOf(blocks: readonly unknown[]): string {
  let text = '';
  for (const block of blocks) if (isRecord(block) && block.type === 'text' && typeof block.text === 'string') text += block.text;
  return text;
}

/** Reads the Messages API's stream events: text deltas, then the id, model, usage and stop reason. */
class MessageAccumulator implements StreamAccumulator<unknown> {
  private text = '';
  private id: unknown = undefined;
  private model: unknown = undefined;
  private stopReason: unknown = null;
  private stopSequence: unknown = null;
  private usage: Record<string, unknown> = {};
  private stopped = false;

  add(event: unknown): string | undefined {
    if (!isRecord(event)) return undefined;
    switch (event.type) {
      case 'message_start': {
        const message = isRecord(event.message) ? event.message : {};
        this.id = message.id;
        this.model = message.model;
        this.mergeUsage(message.usage);
        return undefined;
      }
      case 'content_block_start': {
        const block = isRecord(event.content_block) ? event.content_block : {};
        return block.type === 'text' && typeof block.text === 'string' && block.text !== '' ? this.append(block.text) : undefined;
      }
      case 'content_block_delta': {
        // Thinking, signature, citation and tool-input deltas are not text of the answer.
        const delta = isRecord(event.delta) ? event.delta : {};
        return delta.type === 'text_delta' && typeof delta.text === 'string' ? this.append(delta.text) : undefined;
      }
      case 'message_delta': {
        const delta = isRecord(event.delta) ? event.delta : {};
        this.stopReason = delta.stop_reason ?? this.stopReason;
        this.stopSequence = delta.stop_sequence ?? this.stopSequence;
        this.mergeUsage(event.usage);
        return undefined;
      }
      case 'message_stop':
        this.stopped = true;
        return undefined;
      default:
        return undefined;
    }
  }

  complete(): boolean {
    return this.stopped;
  }

  message(requestId: string | undefined): AIMessageChunk {
    return reportedMessage(
      this.text,
      {
        id: this.id,
        model: this.model,
        stop_reason: this.stopReason,
        stop_sequence: this.stopSequence,
        usage: { ...this.usage },
        request_id: requestId,
      }
    );
  }

  private append(text: string): string {
    this.text += text;
    return text;
  }

  // `message_start` brings the input tokens; `message_delta` the cumulative output tokens (and, on newer API
  // versions, cumulative input counts, which then win). Nulls are "not reported".
  private mergeUsage(usage: unknown): void {
    if (!isRecord(usage)) return;
    for (const [key, value] of Object.entries(usage)) if (typeof value === 'number') this.usage[key] = value;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
