import { ConfigError, describeValue } from '../errors';
import type { RunnableConfig, RunScope } from './config';
import { checkedName, toRunnable } from './parallel';
import { registerCompositionFactory, Runnable, type RunnableLike } from './runnable';

/** An error class, as `exceptionsToHandle` lists them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- error constructors take any arguments
export type ErrorClass = abstract new (...args: any[]) => unknown;

/** Options of {@link Runnable.withFallbacks}. */
export interface FallbacksOptions {
  /**
   * Fall back only on errors that are instances of one of these classes; any other error fails the run
   * at once.
   * @default every error
   */
  exceptionsToHandle?: readonly ErrorClass[];
}

/**
 * Tries a runnable, then each fallback in order until one succeeds. Made by {@link Runnable.withFallbacks}.
 * Its run (named `RunnableWithFallbacks`, as in LangChain) has each try as a child run. When all fail, it
 * fails with the first runnable's error. A cancelled run (its signal aborted, its deadline passed) does not
 * fall back. When streaming, it falls back only while no chunk has been produced: once a chunk is out, a
 * failure is the stream's.
 *
 * @example
 * ```ts
 * const answer = RunnableLambda.from(askBigModel).withFallbacks([RunnableLambda.from(askSmallModel)]);
 * ```
 */
export class RunnableWithFallbacks<TInput, TOutput> extends Runnable<TInput, TOutput> {
  /** The runnable tried first. */
  readonly runnable: Runnable<TInput, TOutput>;
  /** The fallbacks, in order. */
  readonly fallbacks: readonly Runnable<TInput, TOutput>[];
  /** The error classes that cause a fallback; `undefined` for all. */
  readonly exceptionsToHandle: readonly ErrorClass[] | undefined;

  /**
   * @param runnable - the runnable to try first.
   * @param fallbacks - runnables, functions or objects of steps to try next, in order.
   * @param options - see {@link FallbacksOptions}.
   * @throws {@link ConfigError} when `fallbacks` is not a non-empty array of steps, or an option is invalid or unknown.
   */
  constructor(runnable: Runnable<TInput, TOutput>, fallbacks: readonly RunnableLike<TInput, TOutput>[], options: FallbacksOptions = {}) {
    super('RunnableWithFallbacks');
    if (!(runnable instanceof Runnable)) {
      throw new ConfigError('runnable', runnable, `Expected withFallbacks() to be called on a runnable, got ${describeValue(runnable)}.`, { code: 'INVALID_ARGUMENT' });
    }
    if (!Array.isArray(fallbacks) || fallbacks.length === 0) {
      throw new ConfigError('fallbacks', fallbacks, `Expected withFallbacks() to receive a non-empty array of runnables or functions, got ${describeValue(fallbacks)}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
    checkedName(options, ['exceptionsToHandle'], 'withFallbacks()', '');
    const handled: unknown = options.exceptionsToHandle;
    if (handled !== undefined) {
      if (!Array.isArray(handled) || handled.length === 0 || handled.some((item) => typeof item !== 'function')) {
        throw new ConfigError('exceptionsToHandle', handled, `Expected \`exceptionsToHandle\` of withFallbacks() to be a non-empty array of error classes, got ${describeValue(handled)}.`, {
          code: 'INVALID_ARGUMENT',
        });
      }
    }
    this.runnable = runnable;
    this.fallbacks = (fallbacks as readonly unknown[]).map((fallback, index) => toRunnable(fallback, `fallbacks[${index}]`) as Runnable<TInput, TOutput>);
    this.exceptionsToHandle = handled as readonly ErrorClass[] | undefined;
  }

  /** @internal */
  override async _invoke(input: TInput, config: RunnableConfig): Promise<TOutput> {
    const scope = config as RunScope;
    let firstError: { error: unknown } | undefined;
    for (const candidate of [this.runnable, ...this.fallbacks]) {
      try {
        return await candidate.invoke(input, scope);
      } catch (error) {
        firstError ??= { error };
        if (!this.fallsBackOn(error, scope)) throw error;
      }
    }
    throw (firstError as { error: unknown }).error;
  }

  /** @internal */
  override _stream(input: TInput, config: RunnableConfig): AsyncIterator<TOutput> {
    return this.streamCandidates(input, config as RunScope);
  }

  private async *streamCandidates(input: TInput, scope: RunScope): AsyncGenerator<TOutput, void, undefined> {
    let firstError: { error: unknown } | undefined;
    for (const candidate of [this.runnable, ...this.fallbacks]) {
      const chunks = candidate.stream(input, scope);
      let first: IteratorResult<TOutput>;
      try {
        first = await chunks.next();
      } catch (error) {
        firstError ??= { error };
        if (!this.fallsBackOn(error, scope)) throw error;
        continue;
      }
      if (first.done === true) return;
      yield first.value;
      yield* chunks;
      return;
    }
    throw (firstError as { error: unknown }).error;
  }

  private fallsBackOn(error: unknown, scope: RunScope): boolean {
    // A cancelled run stops; a child's own deadline (an AbortError while ours has not aborted) falls back.
    if (scope.signal?.aborted === true) return false;
    return this.exceptionsToHandle === undefined || this.exceptionsToHandle.some((errorClass) => error instanceof errorClass);
  }
}

registerCompositionFactory('fallbacks', (runnable, fallbacks, options) => new RunnableWithFallbacks(runnable, fallbacks, options));
