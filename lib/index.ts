/**
 * callscope: callback propagation for LLM call trees that never silently fails.
 *
 * This is the core: context, settings, callbacks, runnables, tools, the embedded chat model, the tracers
 * without optional peers, propagation helpers and errors. Every public name of the core is listed here;
 * nothing else is part of its API. Integrations with an optional peer dependency are entry points of their
 * own, which the core never loads: `callscope/opentelemetry`, `callscope/anthropic`, `callscope/langchain`.
 *
 * The tracers, `traceable` and the event streams (lib/tracers, lib/traceable, lib/events but its `tap`) are
 * imported by no other module of the core: the build makes them parts that `require('callscope')` loads on
 * first use (`deferLazyParts` in tsup.config.ts; the consumer spec checks that the files loaded at import do
 * not hold them).
 */

import { streamEventsOf } from './events';
import { registerEventStreamFactory } from './runnables/runnable';

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
  ChainEndFields,
  ChainValues,
  GenerationChunkLike,
  HandlerMessage,
  ChatGeneration,
  HandlerMethodName,
  LLMResult,
  NewTokenFields,
  NewTokenIndices,
  RetrievedDocument,
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

// Tracing plain functions
export { traceable } from './traceable';
export type { TraceableFunction, TraceableOptions, TraceableOutput, TraceableRunType, TraceableTarget } from './traceable';

// Events out: streamEvents (LangChain's v2 schema) and server-sent events for UIs
export { EVENT_BUFFER_SIZE, pipeEventStream, toEventStreamResponse } from './events';
// `runnable.streamEvents()` reaches lib/events only when called: in the build, lib/events is a part of the root
// entry that loads when one of its names is first read (tsup.config.ts, deferLazyParts), here `streamEventsOf`.
registerEventStreamFactory((runnable, input, options, filters) => streamEventsOf(runnable, input, options, filters));
export type {
  ChainEndEvent,
  ChainErrorEvent,
  ChainStartEvent,
  ChainStreamEvent,
  ChatModelEndEvent,
  ChatModelErrorEvent,
  ChatModelEventInput,
  ChatModelStartEvent,
  ChatModelStreamEvent,
  CustomStreamEvent,
  EventStreamResponseInit,
  EventStreamSource,
  EventStreamTarget,
  LLMEndEvent,
  LLMErrorEvent,
  LLMEventInput,
  LLMStartEvent,
  LLMStreamEvent,
  StreamEvent,
  StreamEventBase,
  StreamEventName,
  StreamEventsFilters,
  StreamEventsOptions,
  ToolEndEvent,
  ToolErrorEvent,
  ToolStartEvent,
  ToolStreamEvent,
} from './events';

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
  LangSmithParams,
  MessageRole,
} from './models';

// Messages, with LangChain.js's message surface
export {
  AIChatMessage,
  AIChatMessageChunk,
  BaseMessage,
  ChatGenerationChunk,
  HumanMessage,
  SystemMessage,
  ToolMessage,
  toMessages,
} from './models';
export type { AIMessageFields, LangChainMessageLike, MessageFields, MessageType, ToolCall, UsageMetadata } from './models';

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
