import { AbortError, ConfigError, describeValue } from '../errors';
import { abortErrorFor, onAbort } from './cancellation';
import { tagNextRun, type RunnableConfig, type RunScope } from './config';
import { checkedName, isPlainObject } from './parallel';
import { registerCompositionFactory, Runnable } from './runnable';

/** How long to wait between attempts: `initialMs * factor^(attempt - 1)`, capped at `maxMs`, with jitter. */
export interface BackoffOptions {
  /** Wait after the first failed attempt, in milliseconds. @default 1000 */
  initialMs?: number;
  /** Longest wait, in milliseconds. @default 30000 */
  maxMs?: number;
  /** Growth of the wait from one attempt to the next. @default 2 */
  factor?: number;
  /** Wait a random time between half the computed wait and all of it, so clients do not retry in step. @default true */
  jitter?: boolean;
}

/** Options of {@link Runnable.withRetry}. */
export interface RetryOptions<TInput = unknown> {
  /** Attempts in all, the first included (1 means no retry). @default 3 */
  stopAfterAttempt?: number;
  /**
   * Whether a failure is worth another attempt (an {@link AbortError} never is). A rejected promise or a
   * throw fails the run with that error.
   * @default every error is retried
   */
  retryIf?: (error: unknown) => boolean | Promise<boolean>;
  /**
   * Called after each failed attempt that `retryIf` accepts, before the wait, with the error, the input and
   * the attempt's number (from 1). A throw fails the run with that error.
   * @default none
   */
  onFailedAttempt?: (error: unknown, input: TInput, attempt: number) => void | Promise<void>;
  /** Waits between attempts; see {@link BackoffOptions}. */
  backoff?: BackoffOptions;
}

interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: boolean;
}

const RETRY_KEYS = ['stopAfterAttempt', 'retryIf', 'onFailedAttempt', 'backoff'];
const BACKOFF_KEYS = ['initialMs', 'maxMs', 'factor', 'jitter'];

/**
 * Runs a runnable again when it fails. Made by {@link Runnable.withRetry}. Its run is named like the
 * runnable it retries (as in LangChain), and each attempt is a child run, tagged `retry:attempt:N` from
 * the second on. Between attempts it waits with exponential backoff and jitter; the wait ends early, with
 * the run's {@link AbortError}, when its signal aborts or its deadline passes, and leaves no timer behind.
 * When streaming, an attempt is retried only if it failed before producing its first chunk.
 *
 * @example
 * ```ts
 * const sturdy = RunnableLambda.from(callFlakyApi).withRetry({ stopAfterAttempt: 5, backoff: { initialMs: 200 } });
 * ```
 */
export class RunnableRetry<TInput, TOutput> extends Runnable<TInput, TOutput> {
  /** The runnable retried. */
  readonly bound: Runnable<TInput, TOutput>;
  /** Attempts in all. */
  readonly stopAfterAttempt: number;
  private readonly retryIf: RetryOptions<TInput>['retryIf'];
  private readonly onFailedAttempt: RetryOptions<TInput>['onFailedAttempt'];
  private readonly backoff: Backoff;
  private readonly attemptTags: readonly (readonly string[] | undefined)[];

  /**
   * @param bound - the runnable to retry.
   * @param options - see {@link RetryOptions}.
   * @throws {@link ConfigError} when `bound` is not a runnable, or an option is invalid or unknown.
   */
  constructor(bound: Runnable<TInput, TOutput>, options: RetryOptions<TInput> = {}) {
    if (!(bound instanceof Runnable)) {
      throw new ConfigError('runnable', bound, `Expected withRetry() to be called on a runnable, got ${describeValue(bound)}.`, { code: 'INVALID_ARGUMENT' });
    }
    checkedName(options, RETRY_KEYS, 'withRetry()', '');
    super(bound.name);
    const { stopAfterAttempt = 3, retryIf, onFailedAttempt, backoff } = options;
    if (!Number.isInteger(stopAfterAttempt) || stopAfterAttempt < 1) {
      throw new ConfigError('stopAfterAttempt', stopAfterAttempt, `Expected \`stopAfterAttempt\` of withRetry() to be a whole number of at least 1, got ${describeValue(stopAfterAttempt)}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
    for (const [field, value] of [['retryIf', retryIf], ['onFailedAttempt', onFailedAttempt]] as const) {
      if (value !== undefined && typeof value !== 'function') {
        throw new ConfigError(field, value, `Expected \`${field}\` of withRetry() to be a function, got ${describeValue(value)}.`, { code: 'INVALID_ARGUMENT' });
      }
    }
    this.bound = bound;
    this.stopAfterAttempt = stopAfterAttempt;
    this.retryIf = retryIf;
    this.onFailedAttempt = onFailedAttempt;
    this.backoff = checkedBackoff(backoff);
    this.attemptTags = Array.from({ length: Math.min(stopAfterAttempt, 64) }, (_, index) => (index === 0 ? undefined : Object.freeze([`retry:attempt:${index + 1}`])));
  }

  /** @internal */
  override async _invoke(input: TInput, config: RunnableConfig): Promise<TOutput> {
    const scope = config as RunScope;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.bound.invoke(input, tagNextRun(scope, this.tagsOf(attempt)));
      } catch (error) {
        await this.afterFailure(error, input, attempt, scope);
      }
    }
  }

  /** @internal */
  override _stream(input: TInput, config: RunnableConfig): AsyncIterator<TOutput> {
    return this.streamAttempts(input, config as RunScope);
  }

  private async *streamAttempts(input: TInput, scope: RunScope): AsyncGenerator<TOutput, void, undefined> {
    for (let attempt = 1; ; attempt++) {
      const chunks = this.bound.stream(input, tagNextRun(scope, this.tagsOf(attempt)));
      let first: IteratorResult<TOutput>;
      try {
        first = await chunks.next();
      } catch (error) {
        await this.afterFailure(error, input, attempt, scope);
        continue;
      }
      // Once a chunk is out, a failure is the stream's: the consumer cannot take chunks back.
      if (first.done === true) return;
      yield first.value;
      yield* chunks;
      return;
    }
  }

  private tagsOf(attempt: number): readonly string[] | undefined {
    return attempt <= this.attemptTags.length ? this.attemptTags[attempt - 1] : [`retry:attempt:${attempt}`];
  }

  /** Returns when another attempt should be made, after the wait; throws the error that ends the run. */
  private async afterFailure(error: unknown, input: TInput, attempt: number, scope: RunScope): Promise<void> {
    if (error instanceof AbortError || scope.signal?.aborted === true) throw error;
    if (this.retryIf !== undefined && !(await this.retryIf(error))) throw error;
    if (this.onFailedAttempt !== undefined) await this.onFailedAttempt(error, input, attempt);
    if (attempt >= this.stopAfterAttempt) throw error;
    await wait(this.delayAfter(attempt), scope);
  }

  private delayAfter(attempt: number): number {
    const { initialMs, maxMs, factor, jitter } = this.backoff;
    const full = Math.min(maxMs, initialMs * factor ** (attempt - 1));
    return jitter ? full / 2 + Math.random() * (full / 2) : full;
  }
}

/**
 * Resolves after `ms`, or rejects with the run's {@link AbortError} (a `RunTimeoutError` for a deadline) as
 * soon as its signal aborts; the timer and the subscription are removed either way.
 */
function wait(ms: number, scope: RunScope): Promise<void> {
  const signal = scope.signal;
  if (signal === undefined) return new Promise((resolve) => setTimeout(resolve, ms));
  if (signal.aborted) return Promise.reject(abortErrorFor(scope, signal));
  return new Promise((resolve, reject) => {
    const unsubscribe = onAbort(signal, () => {
      clearTimeout(timer);
      reject(abortErrorFor(scope, signal));
    });
    const timer = setTimeout(() => {
      unsubscribe();
      resolve();
    }, ms);
  });
}

function checkedBackoff(backoff: unknown): Backoff {
  if (backoff === undefined) return { initialMs: 1000, maxMs: 30_000, factor: 2, jitter: true };
  if (!isPlainObject(backoff)) {
    throw new ConfigError('backoff', backoff, `Expected \`backoff\` of withRetry() to be an object, got ${describeValue(backoff)}.`, { code: 'INVALID_ARGUMENT' });
  }
  checkedName(backoff, BACKOFF_KEYS, 'withRetry() backoff', '');
  const { initialMs = 1000, maxMs = 30_000, factor = 2, jitter = true } = backoff as BackoffOptions;
  for (const [field, value, least] of [['initialMs', initialMs, 0], ['maxMs', maxMs, 0], ['factor', factor, 1]] as const) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < least) {
      throw new ConfigError(`backoff.${field}`, value, `Expected \`backoff.${field}\` of withRetry() to be a finite number of at least ${least}, got ${describeValue(value)}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
  }
  if (typeof jitter !== 'boolean') {
    throw new ConfigError('backoff.jitter', jitter, `Expected \`backoff.jitter\` of withRetry() to be a boolean, got ${describeValue(jitter)}.`, { code: 'INVALID_ARGUMENT' });
  }
  return { initialMs, maxMs, factor, jitter };
}

registerCompositionFactory('retry', (bound, options) => new RunnableRetry(bound, options));
