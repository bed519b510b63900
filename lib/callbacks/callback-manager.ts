import { ConfigError, describeValue } from '../errors';
import { assertKnownKeys } from '../internal/validation';
import type { RemoteParent } from '../propagation/remote';
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
   * @internal Set by `extractRunContext`: `parentRunId` names a run in another process, so runs started
   * with this manager are roots here that record it as their remote parent.
   */
  _remote: RemoteParent | undefined;

  /**
   * @param handlers - handlers, in the order they are called.
   * @param options - see {@link CallbackManagerOptions}.
   * @throws {@link ConfigError} when `handlers` is not an array of handler objects.
   */
  constructor(handlers: readonly CallbackHandlerLike[] | HandlerSet = [], options: CallbackManagerOptions = {}) {
    if (handlers instanceof HandlerSet) {
      this.handlerSet = handlers;
    } else {
      // Built by your code rather than by callscope: check the arguments.
      assertHandlers(handlers, 'handlers');
      assertManagerOptions(options);
      this.handlerSet = handlers.length === 0 ? NO_HANDLERS : NO_HANDLERS.union(handlers);
    }
    this.parentRunId = options.parentRunId;
    this._remote = undefined;
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
    if (set === this.handlerSet) return this;
    const manager = new CallbackManager(set, { parentRunId: this.parentRunId });
    manager._remote = this._remote;
    return manager;
  }
}

function assertManagerOptions(options: unknown): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError('options', options, `Expected CallbackManager options to be an object, got ${describeValue(options)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  assertKnownKeys(options, ['parentRunId'], 'CallbackManager options');
  const { parentRunId } = options as { parentRunId?: unknown };
  if (parentRunId !== undefined && (typeof parentRunId !== 'string' || parentRunId.length === 0)) {
    throw new ConfigError('parentRunId', parentRunId, `Expected \`parentRunId\` to be a run id string, got ${describeValue(parentRunId)}.`, {
      code: 'INVALID_ARGUMENT',
    });
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
    if (typeof handler === 'function') {
      const kind = Function.prototype.toString.call(handler).startsWith('class') ? 'class' : 'function';
      const name = (handler as { name?: string }).name || 'anonymous';
      throw new ConfigError(
        `${field}[${index}]`,
        handler,
        `Expected \`${field}[${index}]\` to be a handler object, got \`[${kind} ${name}]\` (function): did you forget \`new\`?`,
      );
    }
    if (handler === null || typeof handler !== 'object' || Array.isArray(handler)) {
      throw new ConfigError(
        `${field}[${index}]`,
        handler,
        `Expected \`${field}[${index}]\` to be a handler object (such as a BaseCallbackHandler), got ${describeValue(handler)}.`,
      );
    }
  });
}
