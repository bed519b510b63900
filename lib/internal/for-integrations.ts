/**
 * What integration entry points (`callscope/langchain`, `callscope/anthropic`, `callscope/opentelemetry`, ...)
 * take from the core, in one place: its internals, and the public values they use. Integrations import the
 * core's values only through this module (types from `lib/index.ts`), never from its folders directly, and
 * never `lib/index.ts` itself: a value import of the root entry's module would make it a chunk shared with
 * every integration, and the root entry could no longer load its lazy parts on first use (see
 * `deferLazyParts` in tsup.config.ts). Not part of the public API.
 *
 * @internal
 */
export { AbortError, ConfigError, ProviderError } from '../errors';
export { CallbackManager, flushCallbacks } from '../callbacks';
export { bindToCurrentContext, getCurrentConfig } from '../propagation';
export { BaseChatModel } from '../models';
export { Runnable } from '../runnables';
export { RunTracer } from '../tracers';
export { EVENT, emit, type EventId, type HandlerSet } from '../callbacks/dispatch';
export { BRIDGED_HANDLERS } from '../callbacks/foreign-manager';
export type { HandlerMethodName } from '../callbacks/handler';
export { describeValue } from '../errors';
export { requireOptional } from './optional-require';
export { flushEnvironmentTracer } from './env-tracing';
export { assertKnownKeys, lazySchema, nearestKey, parseOrThrow } from './validation';
export { markRemote, remoteParentOfRun, type RemoteParent } from '../propagation/remote';
export { abortErrorFor, raceAbort } from '../runnables/cancellation';
export { backgroundPending, isPromiseLike } from '../callbacks/delivery';
export { inheritableHandlers, inheritableTags, knownRunId, mergeScope, normalizeConfig, RunScope, watchedSignal } from '../runnables/config';
export { currentBackend } from '../settings';
export { executeObservedRun, inheritedScope, openDormantRoot, openScope } from '../runnables/run';
export { isError, messageOf, toJsonError, toJsonValue } from '../tracers/internal/to-json-value';
export {
  followApiPromise,
  followHelperStream,
  followSdkStream,
  isApiPromise,
  isSdkStream,
  ModelCall,
  contentText,
  proxyResource,
  traceCreate,
  traceHelperStream,
  type MethodTracing,
  type RequestOptionsLike,
  type SdkMethod,
  type ApiPromiseLike,
  type ModelCallStart,
  type SdkStreamLike,
  type StreamAccumulator,
} from '../traceable/model-call';
export { CLIENT_OPTION_EXPECTATIONS, clientOptionFields, parseClientOptions, type ClientOptions, type ClientSettings } from '../traceable/client-options';
export { reportedMessage } from '../traceable/reporting-chat-model';
export { newRunId } from './run-id';
