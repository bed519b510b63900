import { AbortError } from '../errors';
import { newRunId } from '../internal/run-id';
import { currentBackend } from '../settings';
import { combineChunks } from './combine';
import { reportLostCallbacks } from './lost-callbacks';
import { childScope, mergeScope, normalizeConfig, RunScope, type NormalizedConfig, type RunnableConfig } from './config';

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
 * Resolves a call's config against what it inherits and opens the run's scope (id, name, parent).
 *
 * @throws {@link ConfigError} when `config` is invalid.
 */
export function openScope<TInput, TOutput>(
  target: RunTarget<TInput, TOutput>,
  config: RunnableConfig | undefined,
  inherited: RunScope | undefined,
): RunScope {
  const call = config === undefined || config instanceof RunScope ? undefined : normalizeConfig(config);
  const bound = target.boundConfig;
  const parent = mergeScope(inherited, bound, call);
  const runName = call?.runName ?? bound?.runName ?? target.name;
  if (parent?.callbacks.parentRunId === undefined) {
    // About to start a root run: in 'explicit' mode with diagnostics, was a run with handlers left behind?
    const left = currentBackend<RunScope>().observed();
    if (left !== undefined) reportLostCallbacks(runName, left);
  }
  return childScope(parent, call?.runId ?? newRunId(), runName);
}

function callBody<TInput, TOutput>(target: RunTarget<TInput, TOutput>, input: TInput, scope: RunScope): Promise<TOutput> | TOutput {
  return target._invoke(input, scope);
}

/**
 * Runs `target` once: start event, body inside the run's context, then end or error event. Handler
 * promises are awaited before the run goes on; with only synchronous handlers no extra tick is spent.
 */
export async function executeRun<TInput, TOutput>(
  target: RunTarget<TInput, TOutput>,
  input: TInput,
  config: RunnableConfig | undefined,
): Promise<TOutput> {
  const scope = openScope(target, config, inheritedScope(config));
  const signal = scope.signal;
  if (signal?.aborted) throw new AbortError(scope._runName ?? target.name, signal.reason);
  const started = emitStart(target, scope, input);
  if (started !== undefined) await started;
  let output: TOutput;
  try {
    const result = currentBackend<RunScope>().with(scope, callBody, target, input, scope);
    output = signal === undefined ? await result : await raceAbort(result, signal, scope);
  } catch (error) {
    const reported = target._emitError(scope, error);
    if (reported !== undefined) await reported;
    throw error;
  }
  const ended = target._emitEnd(scope, output);
  if (ended !== undefined) await ended;
  return output;
}

/**
 * Emits the start event; returns a promise only when a handler is async. If a `raiseError` handler fails
 * it, the run is over before it began: the other handlers, which saw the start, get an error event so
 * every start they see is closed, and the returned promise rejects with the handler's error.
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
  try {
    await target._emitError(scope, error);
  } catch {
    // The run already fails with the first handler error; a second one adds nothing.
  }
  throw error;
}

/**
 * Settles with `value`, or rejects with an {@link AbortError} as soon as `signal` aborts, whichever comes
 * first. The listener is removed either way, so long-lived signals do not collect listeners.
 */
export function raceAbort<T>(value: Promise<T> | T, signal: AbortSignal, scope: RunScope): Promise<T> {
  if (signal.aborted) {
    // The body's own outcome no longer matters; keep it from surfacing as an unhandled rejection.
    Promise.resolve(value).catch(noop);
    return Promise.reject(new AbortError(scope._runName ?? 'run', signal.reason));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortError(scope._runName ?? 'run', signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    Promise.resolve(value).then(
      (result) => {
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        // The body's own error, passed through unchanged.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(error);
      },
    );
  });
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
  const signal = scope.signal;
  if (signal?.aborted) throw new AbortError(scope._runName ?? target.name, signal.reason);
  const started = emitStart(target, scope, startInput);
  if (started !== undefined) await started;
  const backend = currentBackend<RunScope>();
  let iterator: AsyncIterator<TOutput> | undefined;
  let combined: TOutput | undefined;
  let received = false;
  let state: 'running' | 'finished' | 'failed' = 'running';
  try {
    iterator = backend.with(scope, produce, scope);
    for (;;) {
      const pending = backend.with(scope, nextOf, iterator);
      const step = signal === undefined ? await pending : await raceAbort(pending, signal, scope);
      if (step.done === true) break;
      combined = received ? (combineChunks(combined, step.value) as TOutput) : step.value;
      received = true;
      yield step.value;
    }
    state = 'finished';
  } catch (error) {
    state = 'failed';
    if (iterator !== undefined) closeQuietly(backend.with(scope, returnOf, iterator));
    const reported = target._emitError(scope, error);
    if (reported !== undefined) await reported;
    throw error;
  } finally {
    if (state === 'running') {
      // The consumer stopped early (`break`, `return()`): close the producer and end the run with what it got.
      if (iterator !== undefined) await settleQuietly(backend.with(scope, returnOf, iterator));
      const ended = target._emitEnd(scope, combined);
      if (ended !== undefined) await ended;
    }
  }
  const ended = target._emitEnd(scope, combined);
  if (ended !== undefined) await ended;
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
