/**
 * callscope: callback propagation for LLM call trees that never silently fails.
 *
 * This is the core: context, settings, callbacks, runnables, tools, the embedded chat model, the tracers
 * without optional peers, propagation helpers and errors. Every public name of the core is listed here;
 * nothing else is part of its API. Integrations with an optional peer dependency are entry points of their
 * own, which the core never loads: `callscope/opentelemetry`, `callscope/anthropic`, `callscope/langchain`.
 */

// Settings
export { configure, getConfiguration } from './settings';
export type { CallscopeConfiguration, ConfigureOptions, DeliveryMode, HandlerErrorReport, LostCallbacksPolicy, ShutdownSignal } from './settings';
export type { PropagationMode } from './context';

// Propagation across boundaries that lose context
export { bindEmitter, bindToCurrentContext, getCurrentConfig } from './propagation';

// Callback handlers
export { AsyncCallbackHandler, BaseCallbackHandler, CallbackManager, awaitAllCallbacks, dispatchCustomEvent, flushCallbacks } from './callbacks';
export type {
  CallbackHandler,
  CallbackHandlerLike,
  CallbackHandlerMethods,
  CallbackHandlerOptions,
  CallbackManagerOptions,
  ChainValues,
  ChatGeneration,
  HandlerMethodName,
  LLMResult,
  NewTokenFields,
  NewTokenIndices,
  Serialized,
} from './callbacks';

// Runnables
export { Runnable, RunnableGenerator, RunnableLambda, RunnableSequence, combineChunks, withCallbacks } from './runnables';
export type {
  BatchOptions,
  Callbacks,
  GeneratorFunction,
  LambdaFunction,
  RunnableConfig,
  RunnableGeneratorOptions,
  RunnableLambdaOptions,
  RunnableLike,
  RunnableMapLike,
  RunnableSequenceOptions,
  StepMap,
} from './runnables';

// Composition
export { RunnableAssign, RunnableBranch, RunnableParallel, RunnablePassthrough, RunnableRetry, RunnableWithFallbacks } from './runnables';
export type {
  BackoffOptions,
  BranchLike,
  ErrorClass,
  FallbacksOptions,
  ListenerRun,
  ListenerRunType,
  RetryOptions,
  RunListener,
  RunListeners,
  RunnableBranchOptions,
  RunnableParallelOptions,
  RunnablePassthroughOptions,
} from './runnables';

// Tools
export { StructuredTool, tool } from './tools';
export type { ToolFunction, ToolOptions, ToolSchema } from './tools';

// Chat models
export { BaseChatModel, FakeChatModel } from './models';
export type {
  AIMessage,
  AIMessageChunk,
  BaseChatModelOptions,
  ChatMessage,
  ChatModelInput,
  FakeChatModelOptions,
  MessageRole,
} from './models';

// LangChain.js interop: a config LangChain.js passes to your function is accepted as a config. The bridge
// itself (fromLangChain, toLangChain) is the entry point `callscope/langchain`.
export type { LangChainManagerLike } from './callbacks/foreign-manager';

// Tracers
export { ConsoleTracer, JsonlTracer, RunCollector, RunTracer } from './tracers';
export type { CollectedRun, ConsoleTracerOptions, JsonError, JsonlRunRecord, JsonValue, RunEndInfo, RunStartInfo, RunType } from './tracers';

// Errors
export {
  AbortError,
  CallscopeError,
  ConfigError,
  HandlerTimeoutError,
  LostCallbacksError,
  NoActiveRunError,
  ProviderError,
  RunEndedError,
  RunTimeoutError,
  ToolInputError,
} from './errors';
export type { CallscopeErrorCode, ToolInputIssue } from './errors';
