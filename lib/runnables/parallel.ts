import { EVENT, emit } from '../callbacks/dispatch';
import { ConfigError, describeValue } from '../errors';
import { linkSignals, tagNextRun, type RunnableConfig, type RunScope } from './config';
import { RunnableLambda } from './lambda';
import { Runnable, type RunnableMapLike } from './runnable';

function noop(): void {}

/** Options of {@link RunnableParallel.from}. */
export interface RunnableParallelOptions {
  /** Name of the parallel's runs. @default 'RunnableMap' (LangChain.js's name for them) */
  name?: string;
}

/**
 * Runs several steps concurrently on the same input; the output is an object with each step's output
 * under its key. The parallel is a run of its own (named `RunnableMap`, as LangChain.js names it) and each
 * step a child run tagged `map:key:<key>`, in every propagation mode. At most `maxConcurrency` steps (from
 * the config) run at once. When a step fails, the others still running are cancelled through their signal
 * and the parallel fails once, with that step's error, after they have settled. `stream()` yields
 * `{ [key]: chunk }` objects as the steps produce chunks.
 *
 * A plain object of steps given where a step is expected (`pipe`, `RunnableSequence.from`, the steps of a
 * parallel, a branch or a fallback) becomes a `RunnableParallel`.
 *
 * @example
 * ```ts
 * const both = RunnableParallel.from({ summary: summarize, keywords: (text: string) => text.split(' ') });
 * await both.invoke('a long text'); // { summary: '...', keywords: ['a', 'long', 'text'] }
 * ```
 */
export class RunnableParallel<TInput, TOutput extends Record<string, unknown> = Record<string, unknown>> extends Runnable<TInput, TOutput> {
  /** The steps, by key. */
  readonly steps: Readonly<Record<string, Runnable<TInput, unknown>>>;
  private readonly keys: readonly string[];
  private readonly stepList: readonly Runnable<TInput, unknown>[];
  private readonly stepTags: readonly (readonly string[])[];

  /**
   * @param steps - runnables, functions or objects of steps, by key.
   * @param options - see {@link RunnableParallelOptions}.
   * @throws {@link ConfigError} when `steps` is not a non-empty object of steps, or `options` has an unknown key.
   */
  constructor(steps: RunnableMapLike<TInput, TOutput>, options: RunnableParallelOptions = {}) {
    super(checkedName(options, ['name'], 'RunnableParallel', 'RunnableMap'));
    if (!isPlainObject(steps) || Object.keys(steps).length === 0) {
      throw new ConfigError('steps', steps, `Expected RunnableParallel.from() to receive a non-empty object of runnables or functions, got ${describeValue(steps)}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
    const coerced: Record<string, Runnable<TInput, unknown>> = {};
    for (const [key, step] of Object.entries(steps)) coerced[key] = toRunnable(step, `steps.${key}`);
    this.steps = Object.freeze(coerced);
    this.keys = Object.keys(coerced);
    this.stepList = this.keys.map((key) => coerced[key] as Runnable<TInput, unknown>);
    this.stepTags = this.keys.map((key) => Object.freeze([`map:key:${key}`]));
  }

  /**
   * A parallel of `steps`.
   *
   * @param steps - runnables, functions or objects of steps, by key.
   * @param options - see {@link RunnableParallelOptions}.
   * @returns the parallel.
   * @throws {@link ConfigError} when `steps` is not a non-empty object of steps.
   * @example
   * ```ts
   * const both = RunnableParallel.from({ upper: (s: string) => s.toUpperCase(), length: (s: string) => s.length });
   * ```
   */
  static from<TInput = unknown, TOutput extends Record<string, unknown> = Record<string, unknown>>(
    steps: RunnableMapLike<TInput, TOutput>,
    options?: RunnableParallelOptions,
  ): RunnableParallel<TInput, TOutput> {
    return new RunnableParallel<TInput, TOutput>(steps, options);
  }

  /** @internal */
  override async _invoke(input: TInput, config: RunnableConfig): Promise<TOutput> {
    const scope = config as RunScope;
    const steps = this.stepList;
    const count = steps.length;
    const outputs = new Array<unknown>(count);
    // One step failing cancels the others: they get a signal of their own, aborted with its error.
    const controller = new AbortController();
    // Linked through the one-listener-per-signal registry and released when the parallel ends, so a
    // long-lived parent signal keeps nothing of it (AbortSignal.any would retain the combined signal).
    const linked = linkSignals(scope.signal, controller.signal);
    const signal = linked.signal;
    let failure: { error: unknown } | undefined;
    const stepFailed = (error: unknown): void => {
      if (failure === undefined) {
        failure = { error };
        controller.abort(error);
      }
    };
    // A `then` rather than an async function per step: one promise fewer each (on Node 20, where every
    // promise passes through AsyncLocalStorage's hooks, that is most of a step's overhead).
    // `ended` is told when the step has ended, either way.
    const runStep = (index: number, ended: () => void): Promise<void> => {
      let started: Promise<unknown>;
      try {
        started = (steps[index] as Runnable<TInput, unknown>).invoke(input, tagNextRun(scope, this.stepTags[index], signal));
      } catch (error) {
        stepFailed(error);
        ended();
        return Promise.resolve();
      }
      return started.then(
        (output) => {
          outputs[index] = output;
          ended();
        },
        (error: unknown) => {
          stepFailed(error);
          ended();
        },
      );
    };
    const limit = Math.min(scope.maxConcurrency ?? count, count);
    try {
      if (limit >= count) {
        // Every step at once: one promise waited for, settled by the last step to end (Promise.all would
        // add a promise per step).
        let left = count;
        let allEnded: () => void = noop;
        const ended = new Promise<void>((resolve) => {
          allEnded = resolve;
        });
        const stepEnded = (): void => {
          if (--left === 0) allEnded();
        };
        for (let index = 0; index < count; index++) void runStep(index, stepEnded);
        await ended;
      } else {
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < count && failure === undefined) await runStep(next++, noop);
        };
        const workers: Promise<void>[] = [];
        for (let index = 0; index < limit; index++) workers.push(worker());
        await Promise.all(workers);
      }
    } finally {
      linked.release?.();
    }
    if (failure !== undefined) throw failure.error;
    const output: Record<string, unknown> = {};
    for (let index = 0; index < count; index++) output[this.keys[index] as string] = outputs[index];
    return output as TOutput;
  }

  /** @internal */
  override _stream(input: TInput, config: RunnableConfig): AsyncIterator<TOutput> {
    return streamSteps(this.keys, this.stepList, this.stepTags, input, config as RunScope) as AsyncIterator<TOutput>;
  }

  /** @internal LangChain reports a parallel's input as `{ input }`, whatever its shape. */
  override _emitStart(scope: RunScope, input: TInput | undefined): Promise<void> | undefined {
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.chainStart);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    return emit(
      listeners,
      'handleChainStart',
      [this.serialized, { input }, runId, scope._parentRunId, scope.tags, scope.metadata, undefined, scope._runName],
      runId,
      scope._rootRunId,
    );
  }
}

type Settled = { readonly index: number; readonly result: IteratorResult<unknown>; readonly failed: false } | { readonly index: number; readonly error: unknown; readonly failed: true };

/**
 * Streams every step at once (at most `maxConcurrency`), yielding `{ [key]: chunk }` as chunks arrive. A
 * step is asked for its next chunk only after its previous one was consumed. When a step fails, or the
 * consumer stops early, the steps still running are cancelled through their signal, and the stream ends
 * only after they have settled, so their runs end before the parallel's.
 */
async function* streamSteps<TInput>(
  keys: readonly string[],
  steps: readonly Runnable<TInput, unknown>[],
  tags: readonly (readonly string[])[],
  input: TInput,
  scope: RunScope,
): AsyncGenerator<Record<string, unknown>, void, undefined> {
  const count = steps.length;
  const controller = new AbortController();
  const linked = linkSignals(scope.signal, controller.signal);
  const signal = linked.signal;
  const iterators = new Array<AsyncIterator<unknown> | undefined>(count);
  const finished = new Array<boolean>(count).fill(false);
  const pending = new Map<number, Promise<Settled>>();
  const limit = Math.min(scope.maxConcurrency ?? count, count);
  let started = 0;
  const pull = (index: number): void => {
    const iterator = iterators[index] as AsyncIterator<unknown>;
    pending.set(
      index,
      iterator.next().then(
        (result): Settled => ({ index, result, failed: false }),
        (error: unknown): Settled => ({ index, error, failed: true }),
      ),
    );
  };
  const startNext = (): void => {
    const index = started++;
    iterators[index] = (steps[index] as Runnable<TInput, unknown>).stream(input, tagNextRun(scope, tags[index], signal));
    pull(index);
  };
  let failure: { error: unknown } | undefined;
  try {
    while (started < limit) startNext();
    while (pending.size > 0) {
      const settled = await Promise.race(pending.values());
      pending.delete(settled.index);
      if (settled.failed) {
        finished[settled.index] = true;
        failure = { error: settled.error };
        break;
      }
      if (settled.result.done === true) {
        finished[settled.index] = true;
        if (started < count) startNext();
        continue;
      }
      yield { [keys[settled.index] as string]: settled.result.value };
      pull(settled.index);
    }
  } finally {
    if (pending.size > 0 || started < count) {
      controller.abort(failure?.error ?? new Error('the consumer stopped reading the parallel stream'));
      for (const settled of await Promise.all(pending.values())) if (settled.failed || settled.result.done === true) finished[settled.index] = true;
      pending.clear();
    }
    // Steps waiting between chunks (never steps that ended) are closed: their runs end normally.
    const closing: Promise<void>[] = [];
    iterators.forEach((iterator, index) => {
      if (iterator !== undefined && finished[index] !== true) closing.push(closeQuietly(iterator));
    });
    await Promise.all(closing);
    linked.release?.();
  }
  if (failure !== undefined) throw failure.error;
}

async function closeQuietly(iterator: AsyncIterator<unknown>): Promise<void> {
  try {
    await iterator.return?.();
  } catch {
    // A step failing while being closed has nothing left to report to.
  }
}

/**
 * Turns what a composition accepts as a step into a runnable: a runnable as is, a function into a
 * {@link RunnableLambda}, a plain object of steps into a {@link RunnableParallel}.
 *
 * @param field - how the step is called in error messages, e.g. `steps.summary` or `fallbacks[1]`.
 * @throws {@link ConfigError} naming `field` for anything else.
 * @internal
 */
export function toRunnable(step: unknown, field: string): Runnable<unknown, unknown> {
  if (step instanceof Runnable) return step as Runnable<unknown, unknown>;
  if (typeof step === 'function') return new RunnableLambda(step as (input: unknown, config: RunnableConfig) => unknown);
  if (isPlainObject(step) && Object.keys(step).length > 0) return new RunnableParallel(step as RunnableMapLike<unknown, Record<string, unknown>>);
  throw new ConfigError(field, step, `Expected \`${field}\` to be a runnable, a function or an object of steps, got ${describeValue(step)}.`, {
    code: 'INVALID_ARGUMENT',
  });
}

/** Whether `value` is a plain object (`{ ... }`), as a map of steps is. @internal */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Validates an options object of a composition: an object (or `undefined`) with only `allowed` keys and a
 * non-empty string `name` if any.
 *
 * @param where - the function, for messages, e.g. `RunnableParallel`.
 * @returns `name`, or `fallback`.
 * @throws {@link ConfigError} naming the first unknown key or the bad `name`.
 * @internal
 */
export function checkedName(options: unknown, allowed: readonly string[], where: string, fallback: string): string {
  if (options === undefined) return fallback;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError('options', options, `Expected the options of ${where} to be an object, got ${describeValue(options)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  for (const [key, value] of Object.entries(options)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(key, value, `Unknown option \`${key}\` of ${where}: expected ${allowed.map((name) => `\`${name}\``).join(', ')}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
  }
  const name: unknown = (options as { name?: unknown }).name;
  if (name === undefined) return fallback;
  if (typeof name !== 'string' || name.length === 0) {
    throw new ConfigError('name', name, `Expected \`name\` of ${where} to be a non-empty string, got ${describeValue(name)}.`, { code: 'INVALID_ARGUMENT' });
  }
  return name;
}
