import type { Runnable as LCRunnable } from '@langchain/core/runnables';
import type { RunnableConfig } from '../index';
import {
  ConfigError,
  Runnable,
  BRIDGED_HANDLERS,
  describeValue,
  EVENT,
  emit,
  flushEnvironmentTracer,
  inheritableHandlers,
  inheritableTags,
  inheritedScope,
  mergeScope,
  normalizeConfig,
  raceAbort,
  requireOptional,
  RunScope,
  type EventId,
  type HandlerMethodName,
  type HandlerSet,
} from '../internal/for-integrations';

/**
 * What callscope needs of a LangChain.js runnable or chat model: `invoke`, and `stream` to stream. The
 * options parameter is left open (`never`) so any LangChain runnable fits without callscope's types
 * depending on `@langchain/core`.
 */
export interface LangChainRunnableLike<TInput, TOutput> {
  invoke(input: TInput, options?: never): Promise<TOutput>;
  stream?(input: TInput, options?: never): Promise<AsyncIterable<unknown>>;
  getName?(): string;
}

interface LangChainCallbackManager {
  addHandler(handler: unknown, inherit?: boolean): void;
}

interface LangChainModules {
  CallbackManager: new (parentRunId?: string) => LangChainCallbackManager;
  BaseCallbackHandler: new (input?: Record<string, unknown>) => object;
  getBufferString: (messages: unknown[]) => string;
  RunnableLambda: { from(fn: (input: unknown, config?: unknown) => unknown): { withConfig(config: { runName: string }): unknown } };
}

let modules: LangChainModules | undefined;
let BridgeHandler: (new (handlers: HandlerSet, rootRunId: string | undefined) => object) | undefined;

function langchain(feature: string): LangChainModules {
  if (modules === undefined) {
    const manager = requireOptional<{ CallbackManager: LangChainModules['CallbackManager'] }>('@langchain/core/callbacks/manager', feature);
    const base = requireOptional<{ BaseCallbackHandler: LangChainModules['BaseCallbackHandler'] }>('@langchain/core/callbacks/base', feature);
    const messages = requireOptional<{ getBufferString: LangChainModules['getBufferString'] }>('@langchain/core/messages', feature);
    const runnables = requireOptional<{ RunnableLambda: LangChainModules['RunnableLambda'] }>('@langchain/core/runnables', feature);
    modules = {
      CallbackManager: manager.CallbackManager,
      BaseCallbackHandler: base.BaseCallbackHandler,
      getBufferString: messages.getBufferString,
      RunnableLambda: runnables.RunnableLambda,
    };
  }
  return modules;
}

// Where LangChain puts the run id among each method's arguments.
const RUN_ID_AT: Partial<Record<HandlerMethodName, number>> = {
  handleChainStart: 2,
  handleChatModelStart: 2,
  handleLLMStart: 2,
  handleToolStart: 2,
  handleLLMNewToken: 2,
  handleCustomEvent: 2,
  handleRetrieverStart: 2,
};

const FORWARDED: readonly [HandlerMethodName, EventId][] = [
  ['handleChainStart', EVENT.chainStart],
  ['handleChainEnd', EVENT.chainEnd],
  ['handleChainError', EVENT.chainError],
  ['handleLLMStart', EVENT.llmStart],
  ['handleLLMNewToken', EVENT.llmNewToken],
  ['handleLLMEnd', EVENT.llmEnd],
  ['handleLLMError', EVENT.llmError],
  ['handleToolStart', EVENT.toolStart],
  ['handleToolEnd', EVENT.toolEnd],
  ['handleToolError', EVENT.toolError],
  ['handleCustomEvent', EVENT.customEvent],
  ['handleRetrieverStart', EVENT.retrieverStart],
  ['handleRetrieverEnd', EVENT.retrieverEnd],
  ['handleRetrieverError', EVENT.retrieverError],
];

/**
 * A LangChain handler that hands every LangChain event, arguments untouched, to a callscope handler set.
 * LangChain awaits it (`awaitHandlers`), and lets a callscope `raiseError` handler's failure through
 * (`raiseError`): callscope's own dispatch already reports everything else.
 */
function bridgeHandlerClass(lc: LangChainModules): new (handlers: HandlerSet, rootRunId: string | undefined) => object {
  if (BridgeHandler !== undefined) return BridgeHandler;
  const Base = lc.BaseCallbackHandler;
  class CallscopeBridge extends Base {
    readonly name = 'callscope';
    readonly handlers: HandlerSet;
    readonly rootRunId: string | undefined;
    readonly [BRIDGED_HANDLERS]: HandlerSet;
    // LangChain chat models stream during invoke (and so emit tokens) only for handlers that ask for it.
    readonly lc_prefer_streaming: boolean;
    constructor(handlers: HandlerSet, rootRunId: string | undefined) {
      super({ raiseError: true, _awaitHandler: true });
      this.handlers = handlers;
      this.rootRunId = rootRunId;
      this[BRIDGED_HANDLERS] = handlers;
      this.lc_prefer_streaming = handlers.listeners(EVENT.llmNewToken).length > 0;
    }
    handleChatModelStart(...args: unknown[]): Promise<void> | undefined {
      const listeners = this.handlers.listeners(EVENT.chatModelStart);
      if (listeners.length === 0) return undefined;
      // Handlers with only handleLLMStart get the messages as one prompt, as LangChain would give them.
      const batches = args[1] as unknown[][];
      const fallback = [args[0], batches.map((batch) => lc.getBufferString(batch)), ...args.slice(2)];
      return emit(listeners, 'handleChatModelStart', args, args[2] as string, this.rootRunId, fallback);
    }
  }
  for (const [method, event] of FORWARDED) {
    const at = RUN_ID_AT[method] ?? 1;
    Object.defineProperty(CallscopeBridge.prototype, method, {
      configurable: true,
      writable: true,
      value(this: CallscopeBridge, ...args: unknown[]): Promise<void> | undefined {
        const listeners = this.handlers.listeners(event);
        if (listeners.length === 0) return undefined;
        return emit(listeners, method, args, args[at] as string | undefined, this.rootRunId);
      },
    });
  }
  BridgeHandler = CallscopeBridge;
  return BridgeHandler;
}

/** A LangChain config that reports into callscope: its runs attach to `scope`'s run and reach its handlers. */
function toLangChainConfig(scope: RunScope | undefined, feature: string): Record<string, unknown> {
  const lc = langchain(feature);
  const parentRunId = scope?.callbacks.parentRunId;
  const manager = new lc.CallbackManager(parentRunId);
  if (scope !== undefined && inheritableHandlers(scope).handlers.length > 0) {
    const Bridge = bridgeHandlerClass(lc);
    manager.addHandler(new Bridge(inheritableHandlers(scope), scope._rootRunId ?? parentRunId), true);
  }
  const config: Record<string, unknown> = { callbacks: manager };
  if (scope !== undefined) {
    config.tags = [...inheritableTags(scope)];
    config.metadata = { ...scope.metadata };
    if (scope.signal !== undefined) config.signal = scope.signal;
    if (scope.configurable !== undefined) config.configurable = { ...scope.configurable };
    if (scope.maxConcurrency !== undefined) config.maxConcurrency = scope.maxConcurrency;
  }
  return config;
}

/** Options of {@link fromLangChain}. */
export interface FromLangChainOptions {
  /** Name of the wrapper (LangChain's own runs keep their names). @default the LangChain runnable's name */
  name?: string;
}

/**
 * A LangChain.js runnable or chat model working as a callscope runnable (see {@link fromLangChain}).
 * It starts no run of its own: the LangChain runnable's runs are the ones handlers see.
 */
export class LangChainRunnable<TInput, TOutput> extends Runnable<TInput, TOutput> {
  /** The wrapped LangChain runnable. */
  readonly langchain: LangChainRunnableLike<TInput, TOutput>;

  /** @throws {@link ConfigError} when `runnable` has no `invoke` method. */
  constructor(runnable: LangChainRunnableLike<TInput, TOutput>, options: FromLangChainOptions = {}) {
    if (runnable === null || typeof runnable !== 'object' || typeof (runnable as { invoke?: unknown }).invoke !== 'function') {
      throw new ConfigError('runnable', runnable, `Expected fromLangChain() to receive a LangChain.js runnable or chat model, got ${describeValue(runnable)}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
    super(options.name ?? runnable.getName?.() ?? 'LangChainRunnable');
    this.langchain = runnable;
  }

  /**
   * Invokes the LangChain runnable with a LangChain config built from the callscope context: its runs
   * become children of the current callscope run and report to its handlers, tags, metadata and signal.
   */
  override async invoke(input: TInput, config?: RunnableConfig): Promise<TOutput> {
    const scope = this.scopeFor(config);
    const result = this.langchain.invoke(input, toLangChainConfig(scope, 'fromLangChain()') as never);
    // Not every LangChain runnable honours the signal itself; the caller's promise does.
    return scope?.signal === undefined ? result : raceAbort(result, scope.signal, scope);
  }

  /** Streams from the LangChain runnable (or yields its whole output once when it cannot stream). */
  override async *stream(input: TInput, config?: RunnableConfig): AsyncGenerator<TOutput, void, undefined> {
    const lcConfig = toLangChainConfig(this.scopeFor(config), 'fromLangChain()') as never;
    if (typeof this.langchain.stream !== 'function') {
      yield await this.langchain.invoke(input, lcConfig);
      return;
    }
    for await (const chunk of await this.langchain.stream(input, lcConfig)) yield chunk as TOutput;
  }

  /** @internal */
  override _invoke(input: TInput, config: RunnableConfig): Promise<TOutput> {
    return this.invoke(input, config);
  }

  private scopeFor(config: RunnableConfig | undefined): RunScope | undefined {
    const call = config === undefined || config instanceof RunScope ? undefined : normalizeConfig(config);
    return mergeScope(inheritedScope(config), this.boundConfig, call);
  }
}

/**
 * Wraps a LangChain.js runnable or chat model (a `ChatAnthropic`, a chain, a `RunnableLambda`...) as a callscope
 * runnable. Invoked inside a callscope run, everything it does (its own runs, streamed tokens, nested runs)
 * reaches callscope's handlers, with parent ids linking into callscope's run tree. Needs `@langchain/core`.
 *
 * @param runnable - the LangChain runnable.
 * @param options - see {@link FromLangChainOptions}.
 * @returns a {@link LangChainRunnable}.
 * @throws {@link ConfigError} when `runnable` is not a LangChain runnable; {@link CallscopeError} with code
 *   `DEPENDENCY_MISSING` (when invoked) if `@langchain/core` is not installed.
 * @example
 * ```ts
 * const model = fromLangChain(new ChatAnthropic({ model: 'claude-sonnet-4-5' }));
 * const answer = RunnableLambda.from(async (q: string) => (await model.invoke(q)).content);
 * await answer.invoke('Hi', { callbacks: [new ConsoleTracer()] });
 * ```
 */
export function fromLangChain<TInput, TOutput>(
  runnable: LangChainRunnableLike<TInput, TOutput>,
  options?: FromLangChainOptions,
): LangChainRunnable<TInput, TOutput> {
  return new LangChainRunnable(runnable, options);
}

/**
 * Turns a callscope runnable into a LangChain.js `RunnableLambda`, to pipe it into LangChain chains: its runs
 * nest under the LangChain run that calls it and report to LangChain's callbacks. (Called directly, callscope
 * runnables accept a LangChain config as their `config` too: see the README.) Needs `@langchain/core`.
 *
 * @returns a LangChain `RunnableLambda`, typed as LangChain's `Runnable` (only this entry point's
 *   declarations refer to `@langchain/core`'s types; the core's do not).
 * @throws {@link CallscopeError} with code `DEPENDENCY_MISSING` if `@langchain/core` is not installed.
 * @example
 * ```ts
 * const chain = prompt.pipe(model).pipe(toLangChain(callscopeSummarizer));
 * ```
 */
export function toLangChain<TInput, TOutput>(runnable: Runnable<TInput, TOutput>): LCRunnable<TInput, TOutput> {
  if (!(runnable instanceof Runnable)) {
    throw new ConfigError('runnable', runnable, `Expected toLangChain() to receive a callscope runnable, got ${describeValue(runnable)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  const lc = langchain('toLangChain()');
  return lc.RunnableLambda.from((input: unknown, config?: unknown) => runnable.invoke(input as TInput, config as RunnableConfig)).withConfig({
    runName: runnable.name,
  }) as LCRunnable<TInput, TOutput>;
}

/**
 * Waits until every run traced to LangSmith through `LANGSMITH_TRACING=true` (or `LANGCHAIN_TRACING_V2=true`)
 * has been sent, like LangSmith's `client.awaitPendingTraceBatches()`: call it before a short-lived process
 * (a script, a serverless function) exits.
 *
 * @returns a promise that resolves at once when tracing is off.
 * @example
 * ```ts
 * await pipeline.invoke(input);
 * await awaitLangSmithTraces();
 * ```
 */
export function awaitLangSmithTraces(): Promise<void> {
  return flushEnvironmentTracer();
}
