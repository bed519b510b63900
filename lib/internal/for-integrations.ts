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
export { parseOrThrow } from './validation';
export { abortErrorFor, raceAbort } from '../runnables/cancellation';
export { inheritableHandlers, inheritableTags, mergeScope, normalizeConfig, RunScope } from '../runnables/config';
export { inheritedScope } from '../runnables/run';
export { isError, messageOf, toJsonError, toJsonValue } from '../tracers/internal/to-json-value';
