import { AbortError } from '../errors';
import { abortErrorFor } from '../runnables/cancellation';
import type { RunnableConfig, RunScope } from '../runnables/config';
import { childrenSettled, emitStart, enter, inRun, leave, openScope, type RunTarget } from '../runnables/run';

/**
 * A run driven by hand, for code whose body is not one call that callscope makes: a traceable function
 * whose result streams after it returns, an SDK call whose answer arrives as a stream the caller reads.
 * It opens the run's scope like `executeRun` does (same parent, same bookkeeping), and emits its events
 * through the target's own `_emitStart`/`_emitEnd`/`_emitError`, so the events are those of the run kinds
 * callscope already has. `end` and `fail` may be called any number of times; only the first counts.
 *
 * @internal
 */
export class RunHandle<TInput, TOutput> {
  private settled = false;

  private constructor(
    readonly target: RunTarget<TInput, TOutput>,
    readonly scope: RunScope,
  ) {}

  /**
   * Opens a run of `target` under `inherited`, with `config` applied.
   *
   * @throws {@link ConfigError} when `config` is invalid; {@link LostCallbacksError} in `'explicit'` mode with
   *   `onLostCallbacks: 'throw'`.
   */
  static open<TInput, TOutput>(target: RunTarget<TInput, TOutput>, config: RunnableConfig | undefined, inherited: RunScope | undefined): RunHandle<TInput, TOutput> {
    const scope = openScope(target, config, inherited);
    enter(scope);
    return new RunHandle(target, scope);
  }

  /**
   * A handle on a run whose scope is already open and counted (and whose start event has been emitted):
   * a caller that drives a run's common case by hand hands over its rare cases (a streamed result, an
   * error) to a handle only when they happen.
   */
  static adopt<TInput, TOutput>(target: RunTarget<TInput, TOutput>, scope: RunScope): RunHandle<TInput, TOutput> {
    const handle = new RunHandle(target, scope);
    handle.settled = scope._ended;
    return handle;
  }

  /** Whether the run has ended or failed (or never started). */
  get isSettled(): boolean {
    return this.settled;
  }

  /** Whether a handler listens to anything or a signal can cancel: otherwise the run has no events to send. */
  get observed(): boolean {
    return this.scope.signal !== undefined || this.scope.callbacks.handlerSet.handlers.length > 0;
  }

  /**
   * Emits the start event; a promise when a handler is async.
   *
   * @throws {@link AbortError} when the run's signal has already aborted (the run then has no events at all,
   *   as with `invoke`); the returned promise rejects with a `raiseError` handler's error, after the error event.
   */
  start(input: TInput | undefined): Promise<void> | undefined {
    const signal = this.scope.signal;
    if (signal?.aborted) {
      this.settled = true;
      leave(this.scope);
      throw abortErrorFor(this.scope, signal);
    }
    const started = emitStart(this.target, this.scope, input);
    if (started === undefined) return undefined;
    return started.catch((error: unknown) => {
      // emitStart already ended the run with an error event.
      this.settled = true;
      leave(this.scope);
      throw error;
    });
  }

  /** Calls `fn(...args)` in the run's context (and inside the handlers' `wrapRunBody`). */
  run<TArgs extends unknown[], TResult>(fn: (...args: TArgs) => TResult, ...args: TArgs): TResult {
    return inRun(this.scope, fn, ...args);
  }

  /** Ends the run with `output`; a promise when a handler is async. */
  end(output: TOutput | undefined): Promise<void> | undefined {
    if (this.settled) return undefined;
    this.settled = true;
    this.scope._ended = true;
    let pending: Promise<void> | undefined;
    try {
      pending = this.target._emitEnd(this.scope, output);
    } catch (error) {
      leave(this.scope);
      throw error;
    }
    return this.leaveAfter(pending);
  }

  /**
   * Ends the run with an error event. An abort waits for the run's open children, cancelled by the same
   * signal, to report theirs first, as `invoke` does.
   */
  fail(error: unknown): Promise<void> | undefined {
    if (this.settled) return undefined;
    this.settled = true;
    this.scope._ended = true;
    if (error instanceof AbortError) {
      const children = childrenSettled(this.scope);
      if (children !== undefined) return children.then(() => this.after(() => this.target._emitError(this.scope, error)));
    }
    return this.after(() => this.target._emitError(this.scope, error));
  }

  // The run leaves its parent's open children once its last event has been delivered.
  private after(emitLast: () => Promise<void> | undefined): Promise<void> | undefined {
    let pending: Promise<void> | undefined;
    try {
      pending = emitLast();
    } catch (error) {
      leave(this.scope);
      throw error;
    }
    return this.leaveAfter(pending);
  }

  private leaveAfter(pending: Promise<void> | undefined): Promise<void> | undefined {
    if (pending === undefined) {
      leave(this.scope);
      return undefined;
    }
    return pending.finally(() => leave(this.scope));
  }
}
