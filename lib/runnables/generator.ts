import { createTracerRuns, EVENT, emit } from '../callbacks/dispatch';
import type { ChainEndFields } from '../callbacks/handler';
import { ConfigError, describeValue } from '../errors';
import { combineChunks } from './combine';
import type { RunnableConfig, RunScope } from './config';
import { validName } from './lambda';
import { Runnable } from './runnable';
import { combineStream, inheritedScope, once, streamRun } from './run';

/** The function a {@link RunnableGenerator} runs: an async generator over a stream of inputs. */
export type GeneratorFunction<TInput, TOutput> = (
  input: AsyncIterable<TInput>,
  config: RunnableConfig,
) => AsyncIterator<TOutput> | AsyncIterable<TOutput>;

/** Options of {@link RunnableGenerator.from}. */
export interface RunnableGeneratorOptions {
  /** Name of the generator's runs. @default the function's name, or `'RunnableGenerator'` */
  name?: string;
}

/**
 * Turns an async generator function into a streaming runnable. Its body runs in the run's context between
 * every pair of `yield`s, whoever consumes it: Node would otherwise run each step in the consumer's context.
 * `stream` yields the generator's chunks; `invoke` returns them combined (strings concatenated, arrays
 * joined, objects merged, otherwise the last chunk).
 *
 * @example
 * ```ts
 * const upper = RunnableGenerator.from(async function* (chunks: AsyncIterable<string>) {
 *   for await (const chunk of chunks) yield chunk.toUpperCase();
 * });
 * ```
 */
export class RunnableGenerator<TInput, TOutput> extends Runnable<TInput, TOutput> {
  /** The wrapped generator function. */
  readonly fn: GeneratorFunction<TInput, TOutput>;

  /**
   * @param fn - async generator function of the input stream and the run's config.
   * @throws {@link ConfigError} when `fn` is not a function.
   */
  constructor(fn: GeneratorFunction<TInput, TOutput>, options: RunnableGeneratorOptions = {}) {
    if (typeof fn !== 'function') {
      throw new ConfigError('fn', fn, `Expected RunnableGenerator.from() to receive an async generator function, got ${describeValue(fn)}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
    super(validName(options, fn.name || 'RunnableGenerator'));
    this.fn = fn;
  }

  /**
   * A runnable that streams what `fn` yields.
   *
   * @param fn - async generator function of the input stream and the run's config.
   * @param options - see {@link RunnableGeneratorOptions}.
   * @throws {@link ConfigError} when `fn` is not a function.
   */
  static from<TInput, TOutput>(fn: GeneratorFunction<TInput, TOutput>, options?: RunnableGeneratorOptions): RunnableGenerator<TInput, TOutput> {
    return new RunnableGenerator(fn, options);
  }

  /** Runs on `input` and returns all chunks combined. */
  override async invoke(input: TInput, config?: RunnableConfig): Promise<TOutput> {
    const chunks = streamRun(this, config, inheritedScope(config), input, (scope) => this.start(once(input), scope));
    return combineStream(chunks);
  }

  /** @internal */
  override _invoke(input: TInput, config: RunnableConfig): Promise<TOutput> {
    return combineStream(toIterable(this.start(once(input), config)));
  }

  /** @internal */
  override _stream(input: TInput, config: RunnableConfig): AsyncIterator<TOutput> {
    return this.start(once(input), config);
  }

  /** @internal The input streams in, so the start event cannot report it (LangChain reports it as ''). */
  override _transformRun(inputs: AsyncIterable<TInput>, scope: RunScope): AsyncGenerator<TOutput, void, undefined> {
    return this.transformOnFirstChunk(inputs, scope);
  }

  // As LangChain's transform steps: the run starts when the first input chunk has arrived (so after the steps
  // that feed it), reports `{ input: '' }` then, and its combined input at its end.
  private async *transformOnFirstChunk(inputs: AsyncIterable<TInput>, scope: RunScope): AsyncGenerator<TOutput, void, undefined> {
    const deferred = new DeferredInput<TInput>(inputs[Symbol.asyncIterator]());
    await deferred.prefetch();
    yield* streamRun(this, scope, scope, deferred as unknown as TInput, (runScope) => this.start(deferred, runScope));
  }

  /** @internal */
  override _emitStart(scope: RunScope, input: TInput | undefined): Promise<void> | undefined {
    if (!(input instanceof DeferredInput)) return super._emitStart(scope, input);
    deferredInputs.set(scope, input);
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.chainStart);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    const args = [this.serialized, { input: '' }, runId, scope._parentRunId, scope.tags, scope.metadata, undefined, scope._runName, DEFERS_INPUTS];
    const tracers = scope.callbacks.handlerSet.tracers(EVENT.chainStart);
    if (tracers.length > 0) createTracerRuns(tracers, '_createRunForChainStart', args, runId);
    return emit(listeners, 'handleChainStart', args, runId, scope._rootRunId);
  }

  /** @internal */
  override _emitEnd(scope: RunScope, output: TOutput | undefined): Promise<void> | undefined {
    const deferred = deferredInputs.get(scope);
    if (deferred === undefined) return super._emitEnd(scope, output);
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.chainEnd);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    const outputs = isRecord(output) ? output : { output };
    return emit(listeners, 'handleChainEnd', [outputs, runId, scope._parentRunId, scope.tags, deferred.fields()], runId, scope._rootRunId);
  }

  /** @internal */
  override _emitError(scope: RunScope, error: unknown): Promise<void> | undefined {
    const deferred = deferredInputs.get(scope);
    if (deferred === undefined) return super._emitError(scope, error);
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.chainError);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    return emit(listeners, 'handleChainError', [error, runId, scope._parentRunId, scope.tags, deferred.fields()], runId, scope._rootRunId);
  }

  private start(inputs: AsyncIterable<TInput>, config: RunnableConfig): AsyncIterator<TOutput> {
    const produced = this.fn(inputs, config);
    if (produced !== null && typeof produced === 'object') {
      if (typeof (produced as AsyncIterator<TOutput>).next === 'function') return produced as AsyncIterator<TOutput>;
      const factory = (produced as AsyncIterable<TOutput>)[Symbol.asyncIterator];
      if (typeof factory === 'function') return factory.call(produced);
    }
    throw new ConfigError(
      'fn',
      produced,
      `Expected the function of RunnableGenerator \`${this.name}\` to return an async iterator (use \`async function*\`), got ${describeValue(produced)}.`,
      { code: 'INVALID_ARGUMENT' },
    );
  }
}

// LangChain marks a chain start whose inputs come at its end.
const DEFERS_INPUTS = Object.freeze({ lc_defers_inputs: true });

// The deferred input of each transform run, from its start event to its end event.
const deferredInputs = new WeakMap<RunScope, DeferredInput<unknown>>();

/**
 * The input stream of a transform run: its first chunk is read before the run starts, and every chunk read
 * is combined, so the run's end can report the whole input.
 */
class DeferredInput<T> implements AsyncIterable<T> {
  private first: Promise<IteratorResult<T>> | undefined;
  private combined: T | undefined;
  private received = false;

  constructor(private readonly source: AsyncIterator<T>) {}

  /** Waits for the first chunk (or the end, or the upstream's failure, which is thrown). */
  async prefetch(): Promise<void> {
    const first = this.source.next();
    this.first = first;
    this.track(await first);
  }

  /** The end event's fifth argument: `{ inputs }`, as LangChain's `_coerceToDict(input, 'input')`. */
  fields(): ChainEndFields {
    const input = this.combined;
    return { inputs: isRecord(input) ? input : { input } };
  }

  private track(step: IteratorResult<T>): void {
    if (step.done === true) return;
    this.combined = this.received ? (combineChunks(this.combined, step.value) as T) : step.value;
    this.received = true;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: async () => {
        const first = this.first;
        if (first !== undefined) {
          this.first = undefined;
          return first;
        }
        const step = await this.source.next();
        this.track(step);
        return step;
      },
      return: async (value?: unknown) => (await this.source.return?.(value)) ?? { done: true, value: undefined },
    };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function toIterable<T>(iterator: AsyncIterator<T>): AsyncIterable<T> {
  return { [Symbol.asyncIterator]: () => iterator };
}
