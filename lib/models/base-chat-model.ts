import { createTracerRuns, EVENT, emit } from '../callbacks/dispatch';
import type { ChatGeneration, LLMResult, NewTokenFields, NewTokenIndices } from '../callbacks/handler';
import { RunEndedError } from '../errors';
import { abortErrorFor } from '../runnables/cancellation';
import { normalizeConfig, RunScope, type Callbacks, type RunnableConfig } from '../runnables/config';
import { Runnable } from '../runnables/runnable';
import { executeRun, inheritedScope, streamRun } from '../runnables/run';
import { findTap, soleTap } from '../events/tap';
import { AIChatMessage, AIChatMessageChunk, ChatGenerationChunk, toBufferString, toMessages, type AIMessage, type ChatMessage, type ChatModelInput } from './messages';

/** Options every chat model accepts. */
export interface BaseChatModelOptions {
  /**
   * Emit `handleLLMNewToken` for each token during `invoke` too (not only `stream`).
   * @default false
   */
  streaming?: boolean;
  /** Handlers for every run of this model, in addition to inherited ones. */
  callbacks?: Callbacks;
}

/**
 * A piece of a streamed AI message, as a model's {@link BaseChatModel._streamChunks} produces it: a plain
 * `{ role: 'ai', content }` object or an {@link AIChatMessageChunk}. Handlers and `stream()` consumers get
 * it as an `AIChatMessageChunk`.
 */
export interface AIMessageChunk extends AIMessage {
  /** Provider details that arrive with this chunk, such as token usage or the stop reason. */
  readonly responseMetadata?: Record<string, unknown>;
}

// Chat models stream one completion for one prompt: LangChain's token index is always { 0, 0 } there.
const TOKEN_INDEX: NewTokenIndices = Object.freeze({ prompt: 0, completion: 0 });

/**
 * What LangChain chat models add to a run's metadata (`getLsParams`), which LangSmith and Langfuse read for
 * their model and cost views.
 */
export interface LangSmithParams {
  /** The provider, such as `anthropic`, when known. */
  ls_provider?: string;
  /** The model's name, when known. */
  ls_model_name?: string;
  /** Always `chat` for chat models. */
  ls_model_type: 'chat';
  /** The sampling temperature, when set. */
  ls_temperature?: number;
  /** The most tokens the model may generate, when set. */
  ls_max_tokens?: number;
}

/**
 * Base class of chat models. A call is an `llm` run: `handleChatModelStart` (or `handleLLMStart` for
 * handlers that only define it), one `handleLLMNewToken` per streamed token, then `handleLLMEnd` with an
 * `LLMResult` or `handleLLMError`. Subclasses implement {@link BaseChatModel._streamChunks}.
 */
export abstract class BaseChatModel extends Runnable<ChatModelInput, AIChatMessage> {
  /** Whether `invoke` emits token events. */
  readonly streaming: boolean;

  /** @throws {@link ConfigError} when `callbacks` is not a list of handlers or a CallbackManager. */
  constructor(options: BaseChatModelOptions & { name?: string } = {}) {
    super(options.name);
    this.streaming = options.streaming ?? false;
    if (options.callbacks !== undefined) this.boundConfig = normalizeConfig({ callbacks: options.callbacks }, 'chat model options');
  }

  /**
   * Produces the response as chunks of text. Runs inside the model's run context; honour
   * `config.signal` for cancellation.
   */
  abstract _streamChunks(messages: readonly ChatMessage[], config: RunnableConfig): AsyncIterator<AIMessageChunk>;

  /** Parameters reported to handlers as `extraParams.invocation_params`. */
  invocationParams(): Record<string, unknown> {
    return {};
  }

  /**
   * The `ls_*` entries added to the metadata of this model's runs, as LangChain's `getLsParams`: by default
   * the provider, model name, temperature and token limit come from {@link BaseChatModel.invocationParams}
   * (`provider`, `model`, `temperature`, `max_tokens`). Unlike LangChain, no provider is guessed from the
   * class name: override this method (or report `provider`) to name it.
   *
   * @returns the entries; those not known are left out.
   */
  getLsParams(): LangSmithParams {
    const params = this.invocationParams();
    const ls: LangSmithParams = { ls_model_type: 'chat' };
    if (typeof params.provider === 'string') ls.ls_provider = params.provider;
    if (typeof params.model === 'string') ls.ls_model_name = params.model;
    if (typeof params.temperature === 'number') ls.ls_temperature = params.temperature;
    if (typeof params.max_tokens === 'number') ls.ls_max_tokens = params.max_tokens;
    return ls;
  }

  /**
   * Answers `input` (a string is one human message) with an AI message.
   *
   * @throws {@link ConfigError} (as a rejection) when `input` or `config` is malformed.
   */
  override async invoke(input: ChatModelInput, config?: RunnableConfig): Promise<AIChatMessage> {
    return executeRun(this, toMessages(input), config);
  }

  /** Streams the answer to `input` chunk by chunk; each chunk is an AI message chunk holding one token. */
  override stream(input: ChatModelInput, config?: RunnableConfig): AsyncGenerator<AIChatMessageChunk, void, undefined> {
    const inherited = inheritedScope(config);
    // The run's output type is the whole message; its streamed pieces are chunks of it.
    return streamRun(this, config, inherited, input, (scope) => this.tokenStream(toMessages(input), scope)) as AsyncGenerator<AIChatMessageChunk, void, undefined>;
  }

  /** @internal */
  override async _invoke(input: ChatModelInput, config: RunnableConfig): Promise<AIChatMessage> {
    const chunks = this._streamChunks(toMessages(input), config);
    let content = '';
    let responseMetadata: Record<string, unknown> | undefined;
    let finished = false;
    const streaming = this.streamsTokens(config);
    try {
      for (;;) {
        const step = await chunks.next();
        if (step.done === true) break;
        const chunk = step.value;
        content += chunk.content;
        if (chunk.responseMetadata !== undefined) responseMetadata = { ...responseMetadata, ...chunk.responseMetadata };
        if (streaming && chunk.content !== '') {
          const pending = this.emitToken(config, chunk.content, toChunk(chunk));
          if (pending !== undefined) await pending;
        }
      }
      finished = true;
    } finally {
      if (!finished) await closeProducer(chunks);
    }
    return responseMetadata === undefined ? new AIChatMessage(content) : new AIChatMessage(content, { response_metadata: responseMetadata });
  }

  /** @internal */
  override _stream(input: ChatModelInput, config: RunnableConfig): AsyncIterator<AIChatMessageChunk> {
    return this.tokenStream(toMessages(input), config);
  }

  private async *tokenStream(messages: readonly ChatMessage[], config: RunnableConfig): AsyncGenerator<AIChatMessageChunk, void, undefined> {
    const chunks = this._streamChunks(messages, config);
    let finished = false;
    try {
      for (;;) {
        const step = await chunks.next();
        if (step.done === true) break;
        const chunk = toChunk(step.value);
        if (chunk.content !== '') {
          const pending = this.emitToken(config, chunk.content, chunk);
          if (pending !== undefined) await pending;
        }
        yield chunk;
      }
      finished = true;
    } finally {
      if (!finished) await closeProducer(chunks);
    }
  }

  /**
   * Whether an invoked run emits token events: when the model was made with `streaming: true`, and, as
   * LangChain's chat models, while an event stream (`streamEvents`) listens to the run.
   */
  protected streamsTokens(config: RunnableConfig): boolean {
    return this.streaming || (config instanceof RunScope && findTap(config.callbacks.handlerSet) !== undefined);
  }

  /**
   * Reports one streamed token of the run whose scope is `config`.
   *
   * @throws {@link AbortError} when the run's signal has aborted; {@link RunEndedError} when the run is over.
   * @returns a promise when a handler is async, so the caller can wait for it before going on.
   */
  protected emitToken(config: RunnableConfig, token: string, message?: AIChatMessageChunk): Promise<void> | undefined {
    if (!(config instanceof RunScope)) return undefined;
    // A body still running after its run was cancelled or ended stops here instead of emitting into it.
    if (config.signal?.aborted) throw abortErrorFor(config, config.signal);
    if (config._ended) throw new RunEndedError(config._runName ?? this.name, 'A token was emitted');
    const listeners = config.callbacks.handlerSet.listeners(EVENT.llmNewToken);
    if (listeners.length === 0) return undefined;
    const runId = config.callbacks.parentRunId;
    // An event stream alone on the run takes the token as is: no generation chunk, no handler dispatch. What
    // it returns is room in its buffer, which the model waits for itself: no handler call to track.
    const tap = soleTap(listeners);
    if (tap !== undefined) return tap.token(runId, token, message ?? new AIChatMessageChunk(token));
    const fields: NewTokenFields = { chunk: new ChatGenerationChunk(token, message ?? new AIChatMessageChunk(token)) };
    return emit(listeners, 'handleLLMNewToken', [token, TOKEN_INDEX, runId, config._parentRunId, config.tags, fields], runId, config._rootRunId);
  }

  /** @internal */
  protected override get kind(): string {
    return 'chat_models';
  }

  /** @internal */
  override _emitStart(scope: RunScope, input: ChatModelInput | undefined): Promise<void> | undefined {
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.chatModelStart);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    const messages = toMessages(input ?? []);
    const extraParams = { invocation_params: this.invocationParams(), batch_size: 1 };
    // As LangChain's chat models: the ls_* entries join the run's metadata, over the caller's.
    const metadata = { ...scope.metadata, ...this.getLsParams() };
    const args = [this.serialized, [messages], runId, scope._parentRunId, extraParams, scope.tags, metadata, scope._runName];
    const tracers = scope.callbacks.handlerSet.tracers(EVENT.chatModelStart);
    if (tracers.length > 0) createTracerRuns(tracers, '_createRunForChatModelStart', args, runId);
    const needsFallback = listeners.some((handler) => typeof handler.handleChatModelStart !== 'function');
    const fallback = needsFallback
      ? [this.serialized, [toBufferString(messages)], runId, scope._parentRunId, extraParams, scope.tags, metadata, scope._runName]
      : undefined;
    return emit(listeners, 'handleChatModelStart', args, runId, scope._rootRunId, fallback);
  }

  /** @internal */
  override _emitEnd(scope: RunScope, output: AIChatMessage | undefined): Promise<void> | undefined {
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.llmEnd);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    return emit(listeners, 'handleLLMEnd', [toLLMResult(output), runId, scope._parentRunId, scope.tags], runId, scope._rootRunId);
  }

  /** @internal */
  override _emitError(scope: RunScope, error: unknown): Promise<void> | undefined {
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.llmError);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    return emit(listeners, 'handleLLMError', [error, runId, scope._parentRunId, scope.tags], runId, scope._rootRunId);
  }
}

/**
 * Closes a producer left suspended mid-response (a token handler failed, the run was aborted, the consumer
 * of `stream()` stopped early), so a provider's model releases its HTTP stream instead of leaving it open.
 */
async function closeProducer(chunks: AsyncIterator<AIMessageChunk>): Promise<void> {
  try {
    await chunks.return?.();
  } catch {
    // The run already ends with its own error, or normally; a producer failing to close adds nothing.
  }
}

// A chunk a model produced as a plain object becomes a message chunk once, shared by the token event and the
// stream's consumer.
function toChunk(chunk: AIMessageChunk): AIChatMessageChunk {
  if (chunk instanceof AIChatMessageChunk) return chunk;
  const made = new AIChatMessageChunk(chunk.content);
  if (chunk.responseMetadata !== undefined) made.responseMetadata = chunk.responseMetadata;
  return made;
}

function toLLMResult(output: AIMessage | undefined): LLMResult {
  let message: AIChatMessage;
  if (output instanceof AIChatMessage) message = output;
  else {
    // A plain `{ role: 'ai', content, responseMetadata? }` (a subclass's own result): keep its provider details.
    const plain: AIMessageChunk | undefined = output;
    const details = plain?.responseMetadata;
    message = new AIChatMessage(output?.content ?? '', details === undefined ? undefined : { response_metadata: details });
  }
  const responseMetadata = message.responseMetadata;
  const generation: ChatGeneration =
    responseMetadata === undefined ? { text: message.content, message } : { text: message.content, message, generationInfo: responseMetadata };
  return responseMetadata === undefined ? { generations: [[generation]] } : { generations: [[generation]], llmOutput: responseMetadata };
}
