import { ConfigError, describeValue } from '../errors';
import { HandlerSet, NO_HANDLERS } from './dispatch';
import type { CallbackHandler, CallbackHandlerLike } from './handler';

/** Options of {@link CallbackManager}. */
export interface CallbackManagerOptions {
  /**
   * The run that runs started with this manager attach to as children. Runs receive a manager with this
   * set to their own id in their `config.callbacks`.
   * @default undefined (runs started with this manager are root runs)
   */
  readonly parentRunId?: string;
}

/**
 * An immutable list of handlers plus the run that new runs attach to. Every runnable body receives one in
 * `config.callbacks`; pass that config on and the runs you start link into the same tree, in any
 * propagation mode.
 *
 * @example
 * ```ts
 * const callbacks = new CallbackManager([new TokenPrinter()]);
 * await chain.invoke(input, { callbacks });
 * ```
 */
export class CallbackManager {
  /** The run that runs started with this manager become children of, if any. */
  readonly parentRunId: string | undefined;
  /** @internal The handlers with their per-event listener lists. */
  readonly handlerSet: HandlerSet;

  /**
   * @param handlers - handlers, in the order they are called.
   * @param options - see {@link CallbackManagerOptions}.
   * @throws {@link ConfigError} when `handlers` is not an array of handler objects.
   */
  constructor(handlers: readonly CallbackHandlerLike[] | HandlerSet = [], options: CallbackManagerOptions = {}) {
    if (handlers instanceof HandlerSet) {
      this.handlerSet = handlers;
    } else {
      assertHandlers(handlers, 'handlers');
      this.handlerSet = handlers.length === 0 ? NO_HANDLERS : NO_HANDLERS.union(handlers);
    }
    this.parentRunId = options.parentRunId;
  }

  /** The handlers, in the order they are called. */
  get handlers(): readonly CallbackHandler[] {
    return this.handlerSet.handlers;
  }

  /**
   * A manager with the same parent run and `handlers` added after the current ones (handlers already
   * present are not added twice).
   *
   * @throws {@link ConfigError} when `handlers` is not an array of handler objects.
   */
  withHandlers(handlers: readonly CallbackHandlerLike[]): CallbackManager {
    assertHandlers(handlers, 'handlers');
    const set = this.handlerSet.union(handlers);
    return set === this.handlerSet ? this : new CallbackManager(set, { parentRunId: this.parentRunId });
  }
}

/** @throws {@link ConfigError} unless `handlers` is an array of non-null objects. */
export function assertHandlers(handlers: unknown, field: string): asserts handlers is readonly CallbackHandlerLike[] {
  if (!Array.isArray(handlers)) {
    throw new ConfigError(
      field,
      handlers,
      `Expected \`${field}\` to be an array of handlers or a CallbackManager, got ${describeValue(handlers)}.`,
    );
  }
  handlers.forEach((handler: unknown, index) => {
    if (handler === null || typeof handler !== 'object' || Array.isArray(handler)) {
      throw new ConfigError(
        `${field}[${index}]`,
        handler,
        `Expected \`${field}[${index}]\` to be a handler object (such as a BaseCallbackHandler), got ${describeValue(handler)}.`,
      );
    }
  });
}
