/**
 * The core's internals that integration entry points (`callscope/langchain`, `callscope/anthropic`,
 * `callscope/opentelemetry`, ...) build on, in one place: integrations import the core only through
 * `lib/index.ts` and this module, never from its folders directly. Not part of the public API.
 *
 * @internal
 */
export { EVENT, emit, type EventId, type HandlerSet } from '../callbacks/dispatch';
export { BRIDGED_HANDLERS } from '../callbacks/foreign-manager';
export type { HandlerMethodName } from '../callbacks/handler';
export { describeValue } from '../errors';
export { requireOptional } from './optional-require';
export { flushEnvironmentTracer } from './env-tracing';
export { assertKnownKeys, lazySchema, nearestKey, parseOrThrow } from './validation';
export { markRemote, remoteParentOfRun, type RemoteParent } from '../propagation/remote';
export { abortErrorFor, raceAbort } from '../runnables/cancellation';
export { backgroundPending } from '../callbacks/delivery';
export { inheritableHandlers, inheritableTags, mergeScope, normalizeConfig, RunScope } from '../runnables/config';
export { inheritedScope } from '../runnables/run';
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
