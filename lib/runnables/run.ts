import { exemptRoot, releaseRoot, setBackgroundCallContext, startedInBackgroundCall } from '../callbacks/delivery';
import { EVENT, HandlerSet, NO_HANDLERS } from '../callbacks/dispatch';
import { CallbackManager } from '../callbacks/callback-manager';
import { environmentTracer } from '../internal/env-tracing';
import type { CallbackHandler } from '../callbacks/handler';
import { AbortError } from '../errors';
import { abortErrorFor, onAbort, raceAbort, startDeadline } from './cancellation';
import { newRunId } from '../internal/run-id';
import { cheapAbortSignals } from '../platform';
import { clearLongTimeout } from '../internal/timers';
import { currentBackend } from '../settings';
import { combineChunks } from './combine';
import { findTap } from '../events/tap';
import { listenerHandler, type RunListeners } from './listeners';
import { reportLostCallbacks, type LostCallStyle } from './lost-callbacks';
import { childScope, dormantRootScope, linkSignals, mergeScope, normalizeConfig, RunScope, unwatchedSignal, watchedSignal, type NormalizedConfig, type RunnableConfig, type SignalSource } from './config';

/**
 * What the run machinery needs from a runnable: its body and how it reports its run to handlers. Chains,
 * tools and chat models differ only in these.
 */
export interface RunTarget<TInput, TOutput> {
  readonly name: string;
  readonly boundConfig: NormalizedConfig | undefined;
  _invoke(input: TInput, config: RunScope): Promise<TOutput> | TOutput;
  _emitStart(scope: RunScope, input: TInput | undefined): Promise<void> | undefined;
  _emitEnd(scope: RunScope, output: TOutput | undefined): Promise<void> | undefined;
  _emitError(scope: RunScope, error: unknown): Promise<void> | undefined;
  /** Listeners attached with `withListeners`, called for this target's runs only. */
  readonly _listeners?: readonly RunListeners[] | undefined;
  /** How calls of this target are made, for the fix the lost-callback diagnostics name. @default 'runnable' */
  readonly _callStyle?: LostCallStyle;
  /**
   * Makes the signal of this target's runs when they have none (neither their own nor inherited): at once where
   * signals are cheap, else on first read (see {@link deferSignal}); the run does not watch it, whoever aborts
   * it also ends the run. A server request's run has it. A method, called on the target, perhaps more than
   * once: it returns the signal it made the first time.
   */
  _makeSignal?(): AbortSignal;
}

/**
 * The context background handlers are called in: no run (a run started there is a root, as in a blocking
 * handler), but recognisable, so that such a run is exempt from backpressure: the call that starts it holds
 * its handler's queue until the run ends, and waiting for room in the queues could mean waiting for itself.
 */
const BACKGROUND_CALL = new RunScope(new CallbackManager(NO_HANDLERS), Object.freeze([]), Object.freeze({}), undefined, undefined, undefined);
setBackgroundCallContext(BACKGROUND_CALL, (value, fn, ...args) => currentBackend().with(value, fn, ...args));

/**
 * The config the body of a transparent run receives (see {@link isTransparent}): no run, no handlers, nothing
 * to inherit. Passing it on to a child is the same as passing nothing where no run is active.
 */
const NO_RUN = new RunScope(new CallbackManager(NO_HANDLERS), Object.freeze([]), Object.freeze({}), undefined, undefined, undefined);

/**
 * Whether a call of `target` without config would be a run nobody can observe: no run is active (nor, in
 * `'explicit'` mode with diagnostics, in flight), so there are no handlers, tags, metadata or signal to
 * inherit; the target binds no config, listeners or signal of its own; LangSmith's environment tracing is
 * off. Such a run sends no event to anyone and nothing can cancel it, so it opens no scope at all: its body
 * runs in the caller's context, which is no run, and the runs it starts are roots, exactly as they would be
 * under a run without handlers in LangChain. Skipping the scope is what keeps a call nobody listens to close
 * to a plain function call: on Node 24, entering an AsyncLocalStorage context alone costs more than three
 * nested async calls.
 */
function isTransparent<TInput, TOutput>(target: RunTarget<TInput, TOutput>, observed: RunScope | undefined): boolean {
  return (
    target.boundConfig === undefined &&
    target._listeners === undefined &&
    target._makeSignal === undefined &&
    observed === undefined &&
    environmentTracer() === undefined
  );
}

/**
 * The context a run started now would inherit: the config itself when it is a scope callscope built,
 * otherwise the active one. Read synchronously at call time, so `stream()` links to the run it was called
 * in even when it is consumed elsewhere.
 */
export function inheritedScope(config: RunnableConfig | undefined): RunScope | undefined {
  return config instanceof RunScope ? config : currentBackend<RunScope>().active();
}

/**
 * Resolves a call's config against what it inherits and opens the run's scope (id, name, parent, root,
 * deadline).
 *
 * @param inheritedIsActive - `inherited` is what the backend's `active()` returned just now: where the
 *   backend observes what is active, it is not read again for the lost-callback check.
 * @throws {@link ConfigError} when `config` is invalid; {@link LostCallbacksError} in `'explicit'` mode with
 *   `onLostCallbacks: 'throw'` when the run would lose its parent's handlers.
 */
export function openScope<TInput, TOutput>(
  target: RunTarget<TInput, TOutput>,
  config: RunnableConfig | undefined,
  inherited: RunScope | undefined,
  inheritedIsActive = false,
): RunScope {
  const call = config === undefined || config instanceof RunScope ? undefined : normalizeConfig(config);
  const bound = target.boundConfig;
  let parent = mergeScope(inherited, bound, call, true);
  const runName = call?.runName ?? bound?.runName ?? target.name;
  const parentRunId = parent?.callbacks.parentRunId;
  if (parentRunId === undefined) {
    // About to start a root run: in 'explicit' mode with diagnostics, was a run with handlers left behind?
    const backend = currentBackend<RunScope>();
    const left = inheritedIsActive && backend.observedIsActive ? inherited : backend.observed();
    if (left !== undefined) reportLostCallbacks(runName, left, target._callStyle);
    // LANGSMITH_TRACING=true: root runs (and so their trees) also go to LangSmith, as LangChain's do.
    const tracer = environmentTracer();
    if (tracer !== undefined) parent = withHandler(parent, tracer);
  }
  // The run counts as an open child of the run whose scope it inherits, when that is its parent.
  // A scope a composition derived for one child (tagNextRun) stands for the run it was derived from.
  const home = inherited?._source ?? inherited;
  const owner = home !== undefined && parentRunId !== undefined && home.callbacks.parentRunId === parentRunId ? home : undefined;
  const timeout = call?.timeout ?? bound?.timeout;
  const runId = call?.runId ?? newRunId();
  const listeners = target._listeners;
  const own = listeners === undefined ? undefined : listeners.map((set) => listenerHandler(set, runId, parent?._rootRunId ?? parentRunId ?? runId));
  if (parentRunId === undefined && startedInBackgroundCall(inherited)) exemptRoot(runId);
  if (timeout === undefined) {
    const inheritedSignal = parent?.signal;
    if (inheritedSignal !== undefined || target._makeSignal === undefined) return childScope(parent, runId, runName, owner, inheritedSignal, undefined, undefined, own);
    // A signal of the target's own making (a server request's): the run does not watch it.
    if (cheapAbortSignals) return unwatchedSignal(childScope(parent, runId, runName, owner, target._makeSignal(), undefined, undefined, own));
    return childScope(parent, runId, runName, owner, undefined, undefined, undefined, own, target as SignalSource);
  }
  const deadline = startDeadline(runName, timeout);
  const linked = linkSignals(parent?.signal, deadline.signal);
  return childScope(parent, runId, runName, owner, linked.signal, deadline.timer, linked.release, own);
}

/**
 * Opens the scope of a root run of `target` called without config where no run is active, when nobody can
 * observe it: `target` binds no config or listeners but makes its own signal (a server request's run, which
 * must be cancellable), LangSmith's environment tracing is off, and the backend tells what is active (not
 * `'explicit'` mode with diagnostics, which looks for runs left behind). Such a run sends no event, so its
 * scope is a dormant root's ({@link dormantRootScope}): its id is made only if something reads it. Returns
 * `undefined` otherwise: open the scope with {@link openScope}.
 *
 * @param runName - the run's name.
 */
export function openDormantRoot<TInput, TOutput>(target: RunTarget<TInput, TOutput>, runName: string): RunScope | undefined {
  if (target.boundConfig !== undefined || target._listeners !== undefined || target._makeSignal === undefined) return undefined;
  if (!currentBackend<RunScope>().observedIsActive || environmentTracer() !== undefined || startedInBackgroundCall(undefined)) return undefined;
  return dormantRootScope(runName, target as SignalSource, cheapAbortSignals);
}

function withHandler(scope: RunScope | undefined, handler: CallbackHandler): RunScope | undefined {
  const handlers = HandlerSet.of([handler]);
  const layer: NormalizedConfig = {
    handlers,
    parentRunId: undefined,
    tags: undefined,
    metadata: undefined,
    runName: undefined,
    runId: undefined,
    signal: undefined,
    maxConcurrency: undefined,
    configurable: undefined,
    timeout: undefined,
    remote: undefined,
  };
  return mergeScope(scope, layer, undefined);
}

function callBody<TInput, TOutput>(target: RunTarget<TInput, TOutput>, input: TInput, scope: RunScope): Promise<TOutput> | TOutput {
  return target._invoke(input, scope);
}

/**
 * Calls `fn(...args)` in the run's context, inside the `wrapRunBody` of every handler that defines one
 * (the first registered outermost).
 */
export function inRun<TArgs extends unknown[], TResult>(scope: RunScope, fn: (...args: TArgs) => TResult, ...args: TArgs): TResult {
  const backend = currentBackend<RunScope>();
  const wrappers = scope.callbacks.handlerSet.listeners(EVENT.wrapRunBody);
  if (wrappers.length === 0) return backend.with(scope, fn, ...args);
  const runId = scope.callbacks.parentRunId as string;
  let call = (): TResult => backend.with(scope, fn, ...args);
  for (let i = wrappers.length - 1; i >= 0; i--) {
    const handler = wrappers[i] as Required<Pick<CallbackHandler, 'wrapRunBody'>>;
    const inner = call;
    call = () => handler.wrapRunBody(runId, inner);
  }
  return call();
}

/** Counts a run among its parent's open children. */
export function enter(scope: RunScope): void {
  if (scope._owner !== undefined) scope._owner._openChildren++;
}

/** Ends a run's bookkeeping: its deadline timer, and its place among its parent's open children. */
export function leave(scope: RunScope): void {
  scope._ended = true;
  if (scope._deadline !== undefined) clearLongTimeout(scope._deadline);
  if (scope._parentRunId === undefined) releaseRoot(scope.callbacks.parentRunId as string);
  // Signal subscriptions made for the run, its entry among remote-parented runs.
  if (scope._release !== undefined) scope._release();
  const owner = scope._owner;
  if (owner !== undefined && --owner._openChildren === 0 && owner._childrenSettled !== undefined) {
    const wake = owner._childrenSettled;
    owner._childrenSettled = undefined;
    wake();
  }
}

/**
 * A cancelled run reports its error only after its open children, cancelled by the same signal, have
 * reported theirs: handlers see children finish before their parent.
 */
export function childrenSettled(scope: RunScope): Promise<void> | undefined {
  if (scope._openChildren === 0) return undefined;
  return new Promise((resolve) => {
    scope._childrenSettled = resolve;
  });
}

/** Emits the error event of a run that failed with `error`. */
async function emitFailure<TInput, TOutput>(target: RunTarget<TInput, TOutput>, scope: RunScope, error: unknown): Promise<void> {
  const reported = emitFailureNow(target, scope, error);
  if (reported !== undefined) await reported;
}

/**
 * Runs `target` once: start event, body inside the run's context, then end or error event. Handler
 * promises are awaited before the run goes on; with only synchronous handlers no extra tick is spent.
 */
export function executeRun<TInput, TOutput>(
  target: RunTarget<TInput, TOutput>,
  input: TInput,
  config: RunnableConfig | undefined,
): Promise<TOutput> {
  let scope: RunScope;
  try {
    if (config === undefined) {
      // One read of the context serves the transparency check, the inherited scope and the lost-callback check.
      const backend = currentBackend<RunScope>();
      const active = backend.active();
      if (isTransparent(target, backend.observedIsActive ? active : backend.observed())) return bodyPromise(callBody, target, input, NO_RUN);
      scope = openScope(target, undefined, active, true);
    } else if (config === NO_RUN && isTransparent(target, currentBackend<RunScope>().observed())) {
      return bodyPromise(callBody, target, input, NO_RUN);
    } else scope = openScope(target, config, inheritedScope(config), !(config instanceof RunScope));
  } catch (error) {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a ConfigError or LostCallbacksError
    return Promise.reject(error);
  }
  if (watchedSignal(scope) === undefined && scope.callbacks.handlerSet.handlers.length === 0) {
    // Nobody listens and nothing can cancel: no events to send, nothing to wait for or clean up, so the
    // body's own promise is the run's. Its context still carries the run for what it starts.
    return bodyPromise(inScope, target, input, scope);
  }
  return executeObservedRun(target, input, scope);
}

function inScope<TInput, TOutput>(target: RunTarget<TInput, TOutput>, input: TInput, scope: RunScope): Promise<TOutput> | TOutput {
  return currentBackend<RunScope>().with(scope, callBody, target, input, scope);
}

/** The run's promise when nothing else is to be done: the body's own, its value, or its synchronous throw. */
function bodyPromise<TInput, TOutput>(
  call: (target: RunTarget<TInput, TOutput>, input: TInput, scope: RunScope) => Promise<TOutput> | TOutput,
  target: RunTarget<TInput, TOutput>,
  input: TInput,
  scope: RunScope,
): Promise<TOutput> {
  try {
    const result = call(target, input, scope);
    return result instanceof Promise ? result : Promise.resolve(result);
  } catch (error) {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the body's own error, unchanged
    return Promise.reject(error);
  }
}

/**
 * Runs `target` in the scope {@link openScope} made for it, as a run handlers see: counted among its parent's
 * open children, start event, body inside the run's context, end or error event, cleaned up after. For a run
 * that may be unobserved, {@link executeRun} decides; a caller that opens the scope itself (a server
 * request's run) calls this only when the scope has handlers or a signal the run watches.
 *
 * Written with `then` rather than as an async function: the run's promise is the one that follows its body
 * (plus, for a run that watches a signal, the one an abort settles early), where an async function made one
 * more for itself and one for each `await`. On Node 20 every promise runs AsyncLocalStorage's hooks; a run
 * whose body is one async function made four promises with a signal and two without, now two and one.
 */
export function executeObservedRun<TInput, TOutput>(target: RunTarget<TInput, TOutput>, input: TInput, scope: RunScope): Promise<TOutput> {
  enter(scope);
  const signal = watchedSignal(scope);
  if (signal?.aborted) {
    leave(scope);
    return Promise.reject(abortErrorFor(scope, signal));
  }
  const started = emitStart(target, scope, input);
  if (started === undefined) return runObservedBody(target, input, scope, signal);
  return started.then(
    () => runObservedBody(target, input, scope, signal),
    (error: unknown) => {
      leave(scope);
      throw error;
    },
  );
}

/** The body of an observed run whose start event was sent, then its end or error event (see {@link executeObservedRun}). */
function runObservedBody<TInput, TOutput>(target: RunTarget<TInput, TOutput>, input: TInput, scope: RunScope, signal: AbortSignal | undefined): Promise<TOutput> {
  let result: Promise<TOutput> | TOutput;
  try {
    // A start handler (async, or one that aborts) may have seen the signal abort: nothing starts under it.
    if (signal?.aborted) throw abortErrorFor(scope, signal);
    result = inRun(scope, callBody, target, input, scope);
  } catch (error) {
    return failObservedRun(target, scope, error);
  }
  return followBody(
    result,
    signal,
    scope,
    (output) => endObservedRun(target, scope, output),
    (error) => failObservedRun(target, scope, error),
  );
}

/**
 * The outcome of a run's body, `result`: `onOutput(output)` once it resolves, `onFailure(error)` once it
 * rejects, or `onFailure` with the run's {@link AbortError} as soon as `signal` aborts, whichever comes first
 * (the body's own outcome is then ignored). The returned promise settles as the chosen callback's result.
 * Without a signal that is one promise (the one `then` makes); with one, two.
 *
 * @internal
 */
export function followBody<TOutput, TResult>(
  result: Promise<TOutput> | TOutput,
  signal: AbortSignal | undefined,
  scope: RunScope,
  onOutput: (output: TOutput) => TResult | Promise<TResult>,
  onFailure: (error: unknown) => Promise<never>,
): Promise<TResult> {
  if (signal === undefined) return Promise.resolve(result).then(onOutput, onFailure);
  if (signal.aborted) {
    // Aborted while the body ran synchronously: its outcome no longer matters (nor surfaces as unhandled).
    if (result instanceof Promise) result.then(undefined, noop);
    return onFailure(abortErrorFor(scope, signal));
  }
  return new Promise<TResult>((resolve, reject) => {
    let settled = false;
    // Reported a microtask later, as the body's own failure would be: not from inside `abort()`.
    const unsubscribe = onAbort(signal, () => {
      settled = true;
      const error = abortErrorFor(scope, signal);
      queueMicrotask(() => void onFailure(error).then(undefined, reject));
    });
    Promise.resolve(result).then(
      (output) => {
        unsubscribe();
        if (settled) return;
        settled = true;
        try {
          resolve(onOutput(output));
        } catch (error) {
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a handler's own error, unchanged
          reject(error);
        }
      },
      (error: unknown) => {
        unsubscribe();
        if (settled) return;
        settled = true;
        onFailure(error).then(undefined, reject);
      },
    );
  });
}

/** The body returned `output`: the end event, then the run's bookkeeping ends. */
function endObservedRun<TInput, TOutput>(target: RunTarget<TInput, TOutput>, scope: RunScope, output: TOutput): TOutput | Promise<TOutput> {
  scope._ended = true;
  let ended: Promise<void> | undefined;
  try {
    ended = target._emitEnd(scope, output);
  } catch (error) {
    leave(scope);
    throw error;
  }
  return leaveAfter(scope, ended, output);
}

/**
 * Ends a run's bookkeeping ({@link leave}) once its end event, `ended` (a promise only when a handler is
 * async), has been delivered, and gives `output` on; a handler's error from that event is passed on instead.
 *
 * @internal
 */
export function leaveAfter<T>(scope: RunScope, ended: Promise<void> | undefined, output: T): T | Promise<T> {
  if (ended === undefined) {
    leave(scope);
    return output;
  }
  return ended.then(
    () => {
      leave(scope);
      return output;
    },
    (error: unknown) => {
      leave(scope);
      throw error;
    },
  );
}

/**
 * The body failed with `error` (or the run was aborted): the error event once the children cancelled with it
 * have reported theirs, then the run's bookkeeping ends. Rejects with `error`, or with a handler's error
 * when a `raiseError` handler failed the error event.
 */
function failObservedRun<TInput, TOutput>(target: RunTarget<TInput, TOutput>, scope: RunScope, error: unknown): Promise<never> {
  let reported: Promise<void> | undefined;
  try {
    reported = emitFailureNow(target, scope, error);
  } catch (handlerError) {
    leave(scope);
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the handler's own error, unchanged
    return Promise.reject(handlerError);
  }
  if (reported === undefined) {
    leave(scope);
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the body's own error, unchanged
    return Promise.reject(error);
  }
  return reported.then(
    () => {
      leave(scope);
      throw error;
    },
    (handlerError: unknown) => {
      leave(scope);
      throw handlerError;
    },
  );
}

/**
 * Sends the error event of a failed run, after its open children when it was cancelled (see
 * {@link emitFailure}); returns a promise only when there is something to wait for.
 */
function emitFailureNow<TInput, TOutput>(target: RunTarget<TInput, TOutput>, scope: RunScope, error: unknown): Promise<void> | undefined {
  if (error instanceof AbortError) {
    const children = childrenSettled(scope);
    if (children !== undefined) return children.then(() => reportFailure(target, scope, error));
  }
  return reportFailure(target, scope, error);
}

function reportFailure<TInput, TOutput>(target: RunTarget<TInput, TOutput>, scope: RunScope, error: unknown): Promise<void> | undefined {
  scope._ended = true;
  return target._emitError(scope, error);
}

/**
 * Emits the start event; returns a promise only when a handler is async. If a `raiseError` handler fails
 * it, the run is over before it began: every handler has seen the start, so each gets an error event, and
 * the returned promise rejects with (or the call throws) the handler's error.
 */
export function emitStart<TInput, TOutput>(
  target: RunTarget<TInput, TOutput>,
  scope: RunScope,
  input: TInput | undefined,
): Promise<void> | undefined {
  try {
    const started = target._emitStart(scope, input);
    return started === undefined ? undefined : started.catch((error: unknown) => closeFailedStart(target, scope, error));
  } catch (error) {
    return closeFailedStart(target, scope, error);
  }
}

async function closeFailedStart<TInput, TOutput>(target: RunTarget<TInput, TOutput>, scope: RunScope, error: unknown): Promise<never> {
  scope._ended = true;
  try {
    await target._emitError(scope, error);
  } catch {
    // The run already fails with the first handler error; a second one adds nothing.
  }
  throw error;
}

function noop(): void {}

function nextOf<T>(iterator: AsyncIterator<T>): Promise<IteratorResult<T>> {
  return iterator.next();
}

function returnOf<T>(iterator: AsyncIterator<T>): Promise<IteratorResult<T>> | undefined {
  return iterator.return?.();
}

/**
 * Runs `target` as a stream: opens the run on the first `next()`, pulls chunks from `produce` with the
 * run's context re-entered on every `next()` (Node runs an async generator's body in the context of
 * whoever calls `next()`), and ends the run with the chunks combined. A consumer that stops early ends the
 * run normally with what it received; a failure ends it with an error event.
 *
 * @param inherited - the scope captured when the stream was requested.
 * @param startInput - the input reported in the start event (`undefined` when the input itself streams).
 */
export async function* streamRun<TInput, TOutput>(
  target: RunTarget<TInput, TOutput>,
  config: RunnableConfig | undefined,
  inherited: RunScope | undefined,
  startInput: TInput | undefined,
  produce: (scope: RunScope) => AsyncIterator<TOutput>,
): AsyncGenerator<TOutput, void, undefined> {
  const scope = openScope(target, config, inherited);
  enter(scope);
  let left = false;
  // Set while the generator is parked at a `yield`: a consumer may drop the stream there without calling
  // return(), and nobody would ever resume it. An abort must still end the run (and let its parent end).
  let parked = false;
  let endedByAbort: Promise<void> | undefined;
  let iterator: AsyncIterator<TOutput> | undefined;
  const signal = watchedSignal(scope);
  const backend = currentBackend<RunScope>();
  const stopWatching =
    signal === undefined
      ? noop
      : onAbort(signal, () => {
          if (!parked) return; // a running step sees the abort itself, through raceAbort
          endedByAbort = (async () => {
            if (iterator !== undefined) closeQuietly(backend.with(scope, returnOf, iterator));
            await emitFailure(target, scope, abortErrorFor(scope, signal));
            left = true;
            leave(scope);
          })();
        });
  try {
    if (signal?.aborted) throw abortErrorFor(scope, signal);
    const started = emitStart(target, scope, startInput);
    if (started !== undefined) await started;
    // An event stream listening gets this run's chunks as `on_<type>_stream` events (LangChain's tap).
    const tap = findTap(scope.callbacks.handlerSet);
    const runId = scope.callbacks.parentRunId as string;
    const tapped = tap !== undefined && tap.tapsRun(runId) ? tap : undefined;
    let combined: TOutput | undefined;
    let received = false;
    let state: 'running' | 'finished' | 'failed' = 'running';
    try {
      // A start handler (async, or one that aborts) may have seen the signal abort: nothing starts under it.
      if (signal?.aborted) throw abortErrorFor(scope, signal);
      iterator = inRun(scope, produce, scope);
      for (;;) {
        const pending = inRun(scope, nextOf, iterator);
        const step = signal === undefined ? await pending : await raceAbort(pending, signal, scope);
        if (step.done === true) break;
        combined = received ? (combineChunks(combined, step.value) as TOutput) : step.value;
        received = true;
        if (tapped !== undefined) {
          const sent = tapped.chunk(runId, step.value);
          if (sent !== undefined) await sent;
        }
        parked = true;
        try {
          yield step.value;
        } finally {
          parked = false;
        }
        if (endedByAbort !== undefined) {
          // Aborted while parked: the run has already reported its error.
          state = 'finished';
          await endedByAbort;
          throw abortErrorFor(scope, signal as AbortSignal);
        }
      }
      state = 'finished';
    } catch (error) {
      if (state === 'finished') throw error;
      state = 'failed';
      if (iterator !== undefined) closeQuietly(backend.with(scope, returnOf, iterator));
      await emitFailure(target, scope, error);
      throw error;
    } finally {
      if (state === 'running') {
        if (endedByAbort !== undefined) {
          // Returned after an abort ended the run while parked: nothing more to report.
          await endedByAbort;
        } else {
          // The consumer stopped early (`break`, `return()`): close the producer and end the run with what it got.
          if (iterator !== undefined) await settleQuietly(backend.with(scope, returnOf, iterator));
          scope._ended = true;
          const ended = target._emitEnd(scope, combined);
          if (ended !== undefined) await ended;
        }
      }
    }
    scope._ended = true;
    const ended = target._emitEnd(scope, combined);
    if (ended !== undefined) await ended;
  } finally {
    stopWatching();
    if (!left) leave(scope);
  }
}

function closeQuietly(pending: Promise<unknown> | undefined): void {
  pending?.then(noop, noop);
}

async function settleQuietly(pending: Promise<unknown> | undefined): Promise<void> {
  try {
    await pending;
  } catch {
    // A producer failing while being closed has nobody left to report to.
  }
}

/** An async iterable of one value. */
// eslint-disable-next-line @typescript-eslint/require-await -- async so consumers get the async-iterator protocol
export async function* once<T>(value: T): AsyncGenerator<T, void, undefined> {
  yield value;
}

/** Reads an input stream to its end and combines its chunks (see {@link combineChunks}). */
export async function combineStream<T>(inputs: AsyncIterable<T>): Promise<T> {
  let combined: T | undefined;
  let received = false;
  for await (const chunk of inputs) {
    combined = received ? (combineChunks(combined, chunk) as T) : chunk;
    received = true;
  }
  return combined as T;
}
