import { ConfigError, describeValue, NoActiveRunError, RunEndedError } from '../errors';
import { mergeScope, normalizeConfig, RunScope, type RunnableConfig } from '../runnables/config';
import { currentBackend } from '../settings';
import { EVENT, emit } from './dispatch';

/**
 * Sends a custom event (progress, intermediate results) to the handlers of the current run, as
 * `handleCustomEvent(name, data, runId, tags, metadata)`.
 *
 * @param name - the event's name.
 * @param data - anything; handed to handlers as is.
 * @param config - the config your function received; taken from context when omitted.
 * @returns a promise that settles when async handlers have finished.
 * @throws {@link NoActiveRunError} when called outside any run without a config (or in `'explicit'` mode
 *   without passing the config); {@link ConfigError} when `name` is not a non-empty string.
 * @example
 * ```ts
 * const step = RunnableLambda.from(async (doc: string, config) => {
 *   await dispatchCustomEvent('progress', { done: 0.5 }, config);
 *   return summarize(doc);
 * });
 * ```
 */
export async function dispatchCustomEvent(name: string, data: unknown, config?: RunnableConfig): Promise<void> {
  if (typeof name !== 'string' || name.length === 0) {
    throw new ConfigError('name', name, `Expected the event name of dispatchCustomEvent() to be a non-empty string, got ${describeValue(name)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  const active = currentBackend<RunScope>().active();
  // A copy of a run's config (`{ ...config, tags }`) still names its run through `callbacks.parentRunId`.
  const scope =
    config === undefined || config instanceof RunScope ? (config ?? active) : mergeScope(active, undefined, normalizeConfig(config));
  if (scope?.callbacks.parentRunId === undefined) {
    throw new NoActiveRunError(
      `dispatchCustomEvent('${name}') was called outside any run${config === undefined ? '' : ' with a config that does not come from a run'}. ` +
        'Call it inside a runnable, tool or chat model, and pass the config argument your function received ' +
        "(required in the 'explicit' propagation mode).",
    );
  }
  const listeners = scope.callbacks.handlerSet.listeners(EVENT.customEvent);
  if (listeners.length === 0) return;
  if (scope._ended) throw new RunEndedError(scope._runName ?? 'run', `dispatchCustomEvent('${name}') was called`);
  const runId = scope.callbacks.parentRunId;
  const pending = emit(listeners, 'handleCustomEvent', [name, data, runId, scope.tags, scope.metadata], runId, scope._rootRunId);
  if (pending !== undefined) await pending;
}
