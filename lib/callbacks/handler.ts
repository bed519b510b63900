import type { AIMessage, ChatMessage } from '../models/messages';

/**
 * How a runnable describes itself to handlers, in LangChain's shape: `id` ends with the runnable's name,
 * which LangChain tracers use as the run name.
 */
export interface Serialized {
  readonly lc: 1;
  readonly type: 'not_implemented';
  readonly id: readonly string[];
}

/** Inputs and outputs of chain runs, as LangChain passes them: always an object. */
export type ChainValues = Record<string, unknown>;

/**
 * What a chain's end or error event may carry as its fifth argument, as in LangChain: the run's real inputs,
 * for a streamed transform step that started before its input was known.
 */
export interface ChainEndFields {
  readonly inputs?: ChainValues;
}

/** Position of a streamed token, in LangChain's shape. */
export interface NewTokenIndices {
  readonly prompt: number;
  readonly completion: number;
}

/** One generated completion of a chat model. */
export interface ChatGeneration {
  /** The generated text. */
  readonly text: string;
  /** The same text as an AI message. */
  readonly message: AIMessage;
  /** Provider details, such as the stop reason. */
  readonly generationInfo?: Record<string, unknown>;
}

/** The result handed to `handleLLMEnd`, LangChain's `LLMResult` shape. */
export interface LLMResult {
  /** One list of generations per prompt. */
  readonly generations: ChatGeneration[][];
  /** Provider-level details, such as token usage. */
  readonly llmOutput?: Record<string, unknown>;
}

/** Extra data handed with each streamed token. */
export interface NewTokenFields {
  /** The token as a generation chunk, so handlers can accumulate messages. */
  readonly chunk?: ChatGeneration;
}

/**
 * The events a handler can listen to. Names and positional arguments are those `@langchain/core` uses when
 * it calls handlers at run time (not always the order its type declarations state), so handlers written
 * for LangChain.js work unchanged. Every method is optional; a handler is called only for what it defines.
 * A method may return a promise: it is awaited before the run continues.
 */
export interface CallbackHandlerMethods {
  /** A chain run (lambda, generator, sequence) started. */
  handleChainStart?(
    serialized: Serialized,
    inputs: ChainValues,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runType?: string,
    runName?: string,
    extra?: Record<string, unknown>,
  ): unknown;
  /** A chain run finished; `kwargs.inputs` holds its real inputs when they were deferred (see {@link ChainEndFields}). */
  handleChainEnd?(outputs: ChainValues, runId: string, parentRunId?: string, tags?: string[], kwargs?: ChainEndFields): unknown;
  /** A chain run failed. */
  handleChainError?(error: unknown, runId: string, parentRunId?: string, tags?: string[], kwargs?: ChainEndFields): unknown;
  /** A chat model run started. */
  handleChatModelStart?(
    serialized: Serialized,
    messages: ChatMessage[][],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): unknown;
  /**
   * A text model run started. Chat model runs call this instead of `handleChatModelStart` for handlers that
   * only define this method, with the messages rendered as one prompt string, as LangChain does.
   */
  handleLLMStart?(
    serialized: Serialized,
    prompts: string[],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): unknown;
  /** A model streamed a token. */
  handleLLMNewToken?(
    token: string,
    idx: NewTokenIndices,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    fields?: NewTokenFields,
  ): unknown;
  /** A model run finished. */
  handleLLMEnd?(output: LLMResult, runId: string, parentRunId?: string, tags?: string[]): unknown;
  /** A model run failed. */
  handleLLMError?(error: unknown, runId: string, parentRunId?: string, tags?: string[]): unknown;
  /** A tool run started; `input` is the tool input, JSON-stringified unless it is a string. */
  handleToolStart?(
    serialized: Serialized,
    input: string,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): unknown;
  /** A tool run finished. */
  handleToolEnd?(output: unknown, runId: string, parentRunId?: string, tags?: string[]): unknown;
  /** A tool run failed, including when its input did not match its schema. */
  handleToolError?(error: unknown, runId: string, parentRunId?: string, tags?: string[]): unknown;
  /** Code inside a run called `dispatchCustomEvent`. */
  handleCustomEvent?(
    eventName: string,
    data: unknown,
    runId: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
  ): unknown;
  /**
   * callscope's own extension (LangChain has no such method): runs the body of run `runId`, after its start
   * event, and every step of a streamed body, so that the handler can make a context of its own active
   * around it, such as the run's OpenTelemetry span. It must call `body` once, synchronously, and return
   * what it returns.
   */
  wrapRunBody?<T>(runId: string, body: () => T): T;
}

/** Switches a handler reads, with LangChain's names and meanings. */
export interface CallbackHandlerOptions {
  /** Skip chat model and LLM events. @default false */
  ignoreLLM?: boolean;
  /** Skip chain events. @default false */
  ignoreChain?: boolean;
  /** Skip agent events; as in LangChain this also skips tool events. @default false */
  ignoreAgent?: boolean;
  /** Skip custom events. @default false */
  ignoreCustomEvent?: boolean;
  /**
   * Let this handler's exceptions fail the run instead of being reported and ignored. Such a handler is
   * always delivered blocking, so the run can fail with its error.
   * @default false
   */
  raiseError?: boolean;
  /**
   * Whether runs wait for this handler: `true` always, `false` never (its events go to its own background
   * queue, in order), `undefined` as `configure({ callbacks })` says. LangChain.js handlers carry
   * LangChain's own default here, so callscope ignores the flag on them and follows `configure`.
   * @default undefined
   */
  awaitHandlers?: boolean;
  /**
   * Never let two calls of this handler run at once, across all runs: a call waits until the previous one
   * has settled, and calls happen in event order. For handlers that keep state across async calls.
   * @default false
   */
  serial?: boolean;
  /**
   * Abandon a call of this handler that has not settled after this many milliseconds (see
   * `configure({ handlerTimeoutMs })`, which this overrides).
   * @default undefined (the configured limit, or none)
   */
  handlerTimeoutMs?: number;
}

/**
 * Anything that can be given as a handler: an instance of {@link BaseCallbackHandler}, a LangChain.js
 * handler, or a plain object with some of the `handle*` methods.
 */
export type CallbackHandler = CallbackHandlerMethods & CallbackHandlerOptions & { readonly name?: string };

/**
 * What `callbacks` accepts: a {@link CallbackHandler}, or any named handler object whose method types are
 * declared by another library (a LangChain.js tracer, say) but whose run-time signatures match LangChain's.
 */
export type CallbackHandlerLike = CallbackHandler | { readonly name: string };

/** Names of the handler methods callscope calls. */
export type HandlerMethodName = keyof CallbackHandlerMethods;

// Declaration merging gives subclasses typed, optional `handle*` methods without defining any on the
// prototype: callscope decides whether a handler listens to an event by whether the method exists.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface BaseCallbackHandler extends CallbackHandlerMethods {}

/**
 * Base class for handlers whose methods do their work synchronously. Each method is called at the event,
 * in registration order; if one returns a promise anyway, it is awaited before the run continues.
 *
 * @example
 * ```ts
 * class TokenPrinter extends BaseCallbackHandler {
 *   override handleLLMNewToken(token: string) { process.stdout.write(token); }
 * }
 * await model.invoke('Tell me a joke', { callbacks: [new TokenPrinter()] });
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export abstract class BaseCallbackHandler implements CallbackHandlerOptions {
  /** Name used in reports about this handler; defaults to the class name. */
  name: string;
  /** @inheritDoc CallbackHandlerOptions.ignoreLLM */
  ignoreLLM: boolean;
  /** @inheritDoc CallbackHandlerOptions.ignoreChain */
  ignoreChain: boolean;
  /** @inheritDoc CallbackHandlerOptions.ignoreAgent */
  ignoreAgent: boolean;
  /** @inheritDoc CallbackHandlerOptions.ignoreCustomEvent */
  ignoreCustomEvent: boolean;
  /** @inheritDoc CallbackHandlerOptions.raiseError */
  raiseError: boolean;
  /** @inheritDoc CallbackHandlerOptions.awaitHandlers */
  awaitHandlers: boolean | undefined;
  /** @inheritDoc CallbackHandlerOptions.serial */
  serial: boolean;
  /** @inheritDoc CallbackHandlerOptions.handlerTimeoutMs */
  handlerTimeoutMs: number | undefined;

  /** @param options - switches, see {@link CallbackHandlerOptions}. */
  constructor(options: CallbackHandlerOptions = {}) {
    this.name = new.target.name || 'CallbackHandler';
    this.ignoreLLM = options.ignoreLLM ?? false;
    this.ignoreChain = options.ignoreChain ?? false;
    this.ignoreAgent = options.ignoreAgent ?? false;
    this.ignoreCustomEvent = options.ignoreCustomEvent ?? false;
    this.raiseError = options.raiseError ?? false;
    this.awaitHandlers = options.awaitHandlers;
    this.serial = options.serial ?? false;
    this.handlerTimeoutMs = options.handlerTimeoutMs;
  }
}

/**
 * Base class for handlers whose methods are `async`. Each call is awaited, in registration order, before
 * the run continues: a start handler that sleeps finishes before the first token is emitted.
 *
 * @example
 * ```ts
 * class SlowAudit extends AsyncCallbackHandler {
 *   override async handleLLMEnd() { await auditLog.flush(); }
 * }
 * ```
 */
export abstract class AsyncCallbackHandler extends BaseCallbackHandler {}
