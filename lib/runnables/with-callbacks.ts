import { CallbackManager } from '../callbacks/callback-manager';
import type { CallbackHandlerLike } from '../callbacks/handler';
import { ConfigError, describeValue } from '../errors';
import type { Callbacks } from './config';
import { isLangChainManager } from '../callbacks/foreign-manager';
import { Runnable } from './runnable';

/**
 * Binds handlers to a runnable, tool or chat model: every run it starts, and every run nested inside those,
 * reports to `handlers` in addition to whatever handlers the call inherits or passes.
 *
 * @param runnable - the runnable to bind to; it is not modified.
 * @param handlers - the handlers (or a CallbackManager, whose handlers are used, or one handler).
 * @returns a copy of the same class (a tool keeps its name, description and schema).
 * @throws {@link ConfigError} when `runnable` is not a runnable or `handlers` is not a list of handlers.
 * @example
 * ```ts
 * const tracedSearch = withCallbacks(search, [new CostMeter()]);
 * await agent.invoke(question); // the agent's calls to tracedSearch reach CostMeter, however deep
 * ```
 */
export function withCallbacks<TRunnable extends Runnable<never, unknown>>(runnable: TRunnable, handlers: Callbacks | CallbackHandlerLike): TRunnable {
  if (!(runnable instanceof Runnable)) {
    throw new ConfigError(
      'runnable',
      runnable,
      `Expected withCallbacks() to receive a runnable, tool or chat model as first argument, got ${describeValue(runnable)}.`,
      { code: 'INVALID_ARGUMENT' },
    );
  }
  // One handler on its own is taken as a list of one.
  if (isSingleHandler(handlers)) return runnable.withConfig({ callbacks: [handlers] });
  if (!(handlers instanceof CallbackManager) && !Array.isArray(handlers) && !isLangChainManager(handlers)) {
    throw new ConfigError(
      'handlers',
      handlers,
      `Expected withCallbacks() to receive an array of handlers or a CallbackManager as second argument, got ${describeValue(handlers)}.`,
      { code: 'INVALID_ARGUMENT' },
    );
  }
  return runnable.withConfig({ callbacks: handlers });
}

function isSingleHandler(value: unknown): value is CallbackHandlerLike {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof CallbackManager) && !isLangChainManager(value);
}
