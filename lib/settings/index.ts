import type { HandlerMethodName, CallbackHandler } from '../callbacks/handler';
import {
  bestPropagationMode,
  createAsyncContextBackend,
  createAsyncLocalStorageBackend,
  createClsHookedBackend,
  createExplicitBackend,
  hasAsyncContext,
  type ContextBackend,
  type PropagationMode,
} from '../context';
import { lazySchema, parseOrThrow } from '../internal/validation';

/** A handler method that threw or rejected, as given to `onHandlerError`. */
export interface HandlerErrorReport {
  /** The handler that failed. */
  readonly handler: CallbackHandler;
  /** Its name (`handler.name`, or its class name). */
  readonly handlerName: string;
  /** The method that failed, such as `handleChainStart`. */
  readonly event: HandlerMethodName;
  /** The run the event belonged to. */
  readonly runId: string | undefined;
  /** What the handler threw. */
  readonly error: unknown;
}

/** Process-wide settings, read with {@link getConfiguration} and changed with {@link configure}. */
export interface CallscopeConfiguration {
  /**
   * How runs find their parent and inherited handlers.
   * - `'async-local-storage'`: implicitly, through Node's AsyncLocalStorage (also in Bun, Deno, and
   *   Cloudflare Workers with the `nodejs_als` flag).
   * - `'async-context'`: implicitly, through the TC39 `AsyncContext.Variable`, where a runtime provides it.
   * - `'cls-hooked'`: implicitly, through a `cls-hooked` namespace (loaded on first use).
   * - `'explicit'`: only through the `config` argument, as LangChain behaves where no implicit context exists.
   * @default the best mode the runtime offers: 'async-local-storage' where AsyncLocalStorage exists, else
   * 'async-context' where `AsyncContext` exists, else 'explicit'
   */
  readonly propagation: PropagationMode;
  /**
   * Called when a handler method throws or rejects (and the handler did not ask for `raiseError`).
   * When unset, callscope prints one `console.warn` per handler and event name.
   * @default undefined
   */
  readonly onHandlerError: ((report: HandlerErrorReport) => void) | undefined;
  /**
   * What to do, in `'explicit'` mode, when a runnable is invoked without the config of the run it is called
   * in while that run has handlers (the handlers will not see it):
   * - `'ignore'`: nothing; the documented LangChain behaviour, silent.
   * - `'warn'`: `process.emitWarning` once per call site, code `CALLSCOPE_LOST_CALLBACKS`.
   * - `'throw'`: the call rejects with `LostCallbacksError`.
   * The implicit modes never lose the parent, so they ignore this setting.
   * @default 'ignore'
   */
  readonly onLostCallbacks: LostCallbacksPolicy;
  /**
   * How handler calls are delivered:
   * - `'blocking'`: the run waits for each handler call (async ones too) before it goes on.
   * - `'background'`: the run does not wait; each handler gets its own first-in, first-out queue, so events
   *   keep their order per handler and a slow handler never delays another. Flush with `flushCallbacks(runId)`
   *   or `awaitAllCallbacks()`.
   * A handler's own `awaitHandlers` (`true` or `false`) overrides this; `raiseError` handlers always block.
   * @default 'blocking'
   */
  readonly callbacks: DeliveryMode;
  /**
   * Abandon a handler call that has not settled after this many milliseconds, reporting one
   * `HandlerTimeoutError` (or failing the run with it for `raiseError` handlers). A handler's own
   * `handlerTimeoutMs` overrides it. Left unset, calls a run waits for (blocking delivery) are abandoned
   * after 30,000 ms, so a handler that never settles cannot hang a run, and background calls have no limit.
   * `Infinity` turns the limit off for every call. Any length is honoured, including more than the
   * 2,147,483,647 ms a single Node timer takes.
   * @default undefined (30,000 ms for blocking calls, no limit for background calls)
   */
  readonly handlerTimeoutMs: number | undefined;
  /**
   * The most events waiting in background queues, all handlers together. When the queues are full, runs
   * wait at their next event until there is room again (backpressure); events are never dropped.
   * @default 10000
   */
  readonly maxQueuedEvents: number;
  /**
   * Signals on which callscope delivers the background queues before the process ends (Node ends the process
   * at once on `SIGTERM` and `SIGINT`, running no JavaScript, so without this, queued events are lost). On
   * such a signal callscope waits until the queues are empty or `shutdownTimeoutMs` has passed, then ends the
   * process with exit code 128 + the signal's number, as the signal would have; if your code listens to the
   * signal too, callscope only delivers and leaves ending the process to you. A second signal while waiting
   * ends the process at once. `[]` removes the listeners.
   * @default [] (no listener: the signal ends the process at once)
   */
  readonly shutdownSignals: readonly ShutdownSignal[];
  /**
   * How long a shutdown signal (see `shutdownSignals`) waits for the background queues to be delivered, in
   * milliseconds. Any length is honoured.
   * @default 5000
   */
  readonly shutdownTimeoutMs: number;
}

/** A signal `configure({ shutdownSignals })` can handle: its number is the same on Linux and macOS. */
export type ShutdownSignal = 'SIGTERM' | 'SIGINT' | 'SIGHUP' | 'SIGQUIT';

/** See {@link CallscopeConfiguration.callbacks}. */
export type DeliveryMode = 'blocking' | 'background';

/** See {@link CallscopeConfiguration.onLostCallbacks}. */
export type LostCallbacksPolicy = 'ignore' | 'warn' | 'throw';

/** Options accepted by {@link configure}: any subset of {@link CallscopeConfiguration}. */
export type ConfigureOptions = Partial<CallscopeConfiguration>;

const configureSchema = lazySchema((z) =>
  z.strictObject({
    propagation: z.enum(['async-local-storage', 'cls-hooked', 'explicit', 'async-context']).optional(),
    onHandlerError: z
      .custom<(report: HandlerErrorReport) => void>((value) => value === undefined || typeof value === 'function')
      .optional(),
    onLostCallbacks: z.enum(['ignore', 'warn', 'throw']).optional(),
    callbacks: z.enum(['blocking', 'background']).optional(),
    handlerTimeoutMs: z.union([z.number().positive(), z.literal(Number.POSITIVE_INFINITY)]).optional(),
    maxQueuedEvents: z.number().int().min(1).optional(),
    shutdownSignals: z.array(z.enum(['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'])).optional(),
    shutdownTimeoutMs: z.number().positive().optional(),
  }),
);

const expectations = {
  // 'async-context' is named only where the runtime has AsyncContext, the one place it can be chosen.
  propagation: `one of 'async-local-storage', 'cls-hooked', 'explicit'${hasAsyncContext() ? ", 'async-context'" : ''}`,
  onHandlerError: 'a function receiving a HandlerErrorReport',
  onLostCallbacks: "one of 'ignore', 'warn', 'throw'",
  callbacks: "one of 'blocking', 'background'",
  handlerTimeoutMs: 'a positive number of milliseconds, Infinity for no limit, or undefined for the default',
  maxQueuedEvents: 'a whole number of at least 1',
  shutdownSignals: "an array of 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'",
  shutdownTimeoutMs: 'a positive number of milliseconds',
};

let settings: CallscopeConfiguration = Object.freeze({
  propagation: bestPropagationMode(),
  onHandlerError: undefined,
  onLostCallbacks: 'ignore',
  callbacks: 'blocking',
  handlerTimeoutMs: undefined,
  maxQueuedEvents: 10_000,
  shutdownSignals: Object.freeze([]),
  shutdownTimeoutMs: 5_000,
});

// Made on first use, not at import: creating the AsyncLocalStorage loads Node's implementation of it (about
// 0.3 ms), and startup time counts (see lib/platform/node.ts).
let backend: ContextBackend<unknown> | undefined;

/**
 * Changes process-wide settings; fields you leave out keep their current value. Call it at start-up, before
 * any run: a propagation change applies to every run started afterwards, including runs started inside a
 * run that is already in flight, which therefore no longer find their parent through context.
 *
 * @param options - the settings to change.
 * @returns the settings now in force.
 * @throws {@link ConfigError} when an option has the wrong type or an unknown name, or names a propagation mode
 *   the runtime lacks (`'async-local-storage'` without AsyncLocalStorage, `'async-context'` without `AsyncContext`).
 * @throws {@link CallscopeError} with code `BACKEND_UNAVAILABLE` when `cls-hooked` cannot be loaded.
 * @example
 * ```ts
 * configure({ propagation: 'explicit' }); // reproduce LangChain's behaviour without implicit context
 * ```
 */
export function configure(options: ConfigureOptions): CallscopeConfiguration {
  const parsed = parseOrThrow(configureSchema(), options, 'configure() options', expectations);
  const next: CallscopeConfiguration = Object.freeze({
    propagation: parsed.propagation ?? settings.propagation,
    onHandlerError: 'onHandlerError' in parsed ? parsed.onHandlerError : settings.onHandlerError,
    onLostCallbacks: parsed.onLostCallbacks ?? settings.onLostCallbacks,
    callbacks: parsed.callbacks ?? settings.callbacks,
    handlerTimeoutMs: 'handlerTimeoutMs' in parsed ? parsed.handlerTimeoutMs : settings.handlerTimeoutMs,
    maxQueuedEvents: parsed.maxQueuedEvents ?? settings.maxQueuedEvents,
    shutdownSignals: parsed.shutdownSignals === undefined ? settings.shutdownSignals : Object.freeze([...new Set(parsed.shutdownSignals)]),
    shutdownTimeoutMs: parsed.shutdownTimeoutMs ?? settings.shutdownTimeoutMs,
  });
  if (next.shutdownSignals !== settings.shutdownSignals) applyShutdownSignals(next.shutdownSignals);
  if (next.propagation !== settings.propagation || next.onLostCallbacks !== settings.onLostCallbacks) {
    backend = createBackend(next);
  }
  settings = next;
  return settings;
}

/**
 * The settings in force.
 *
 * @returns a frozen copy; change settings with {@link configure}.
 */
export function getConfiguration(): CallscopeConfiguration {
  return settings;
}

let applyShutdownSignals: (signals: readonly ShutdownSignal[]) => void = () => undefined;

/**
 * Lets the delivery machinery install and remove the `shutdownSignals` listeners without a circular import;
 * applies the signals configured so far at once. Internal.
 */
export function onShutdownSignalsChange(apply: (signals: readonly ShutdownSignal[]) => void): void {
  applyShutdownSignals = apply;
  if (settings.shutdownSignals.length > 0) apply(settings.shutdownSignals);
}

/** The context backend of the current propagation mode. Internal: read on every run. */
export function currentBackend<TValue>(): ContextBackend<TValue> {
  backend ??= createBackend(settings);
  return backend as ContextBackend<TValue>;
}

/** The backend of `config`'s propagation mode; `'explicit'` tracks runs only for the lost-callback diagnostics. */
function createBackend(config: CallscopeConfiguration): ContextBackend<unknown> {
  switch (config.propagation) {
    case 'async-local-storage':
      return createAsyncLocalStorageBackend();
    case 'async-context':
      return createAsyncContextBackend();
    case 'cls-hooked':
      return createClsHookedBackend();
    case 'explicit':
      return createExplicitBackend(config.onLostCallbacks !== 'ignore');
  }
}
