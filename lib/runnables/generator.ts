import { ConfigError, describeValue } from '../errors';
import { DeferredInput, emitDeferredEnd, emitDeferredError, emitDeferredStart, transformOnFirstChunk } from './deferred-input';
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
    return transformOnFirstChunk(this, inputs, scope, (deferred, runScope) => this.start(deferred, runScope));
  }

  /** @internal */
  override _emitStart(scope: RunScope, input: TInput | undefined): Promise<void> | undefined {
    return input instanceof DeferredInput ? emitDeferredStart(this, scope, input) : super._emitStart(scope, input);
  }

  /** @internal */
  override _emitEnd(scope: RunScope, output: TOutput | undefined): Promise<void> | undefined {
    return emitDeferredEnd(scope, output) ?? super._emitEnd(scope, output);
  }

  /** @internal */
  override _emitError(scope: RunScope, error: unknown): Promise<void> | undefined {
    return emitDeferredError(scope, error) ?? super._emitError(scope, error);
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

function toIterable<T>(iterator: AsyncIterator<T>): AsyncIterable<T> {
  return { [Symbol.asyncIterator]: () => iterator };
}
