import { ConfigError, describeValue } from '../errors';
import type { RunnableConfig, RunScope } from './config';
import { DeferredInput, emitDeferredEnd, emitDeferredError, emitDeferredStart, transformOnFirstChunk } from './deferred-input';
import { combineStream } from './run';
import { Runnable } from './runnable';

/** Options of {@link RunnableLambda.from}. */
export interface RunnableLambdaOptions {
  /** Name of the lambda's runs. @default the function's name, or `'RunnableLambda'` */
  name?: string;
}

/** The function a {@link RunnableLambda} runs: sync or async, given the run's config as second argument. */
export type LambdaFunction<TInput, TOutput> = (input: TInput, config: RunnableConfig) => TOutput | Promise<TOutput>;

/**
 * Turns a function into a runnable. Runnables the function calls, with or without passing `config`, are
 * linked as children of the lambda's run (without `config` only in the implicit propagation modes).
 *
 * @example
 * ```ts
 * const summarize = RunnableLambda.from(async (text: string) => (await model.invoke(`Summarize: ${text}`)).content,
 *   { name: 'summarize' });
 * ```
 */
export class RunnableLambda<TInput, TOutput> extends Runnable<TInput, TOutput> {
  /** The wrapped function. */
  readonly fn: LambdaFunction<TInput, TOutput>;

  /**
   * @param fn - the function to run.
   * @param options - see {@link RunnableLambdaOptions}.
   * @throws {@link ConfigError} when `fn` is not a function or `name` is not a non-empty string.
   */
  constructor(fn: LambdaFunction<TInput, TOutput>, options: RunnableLambdaOptions = {}) {
    if (typeof fn !== 'function') {
      throw new ConfigError('fn', fn, `Expected RunnableLambda.from() to receive a function, got ${describeValue(fn)}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
    super(validName(options, fn.name || 'RunnableLambda'));
    this.fn = fn;
  }

  /**
   * A runnable that runs `fn(input, config)`.
   *
   * @param fn - sync or async function of the input and the run's config.
   * @param options - see {@link RunnableLambdaOptions}.
   * @throws {@link ConfigError} when `fn` is not a function or `name` is not a non-empty string.
   */
  static from<TInput, TOutput>(fn: LambdaFunction<TInput, TOutput>, options?: RunnableLambdaOptions): RunnableLambda<TInput, Awaited<TOutput>> {
    return new RunnableLambda<TInput, Awaited<TOutput>>(fn as LambdaFunction<TInput, Awaited<TOutput>>, options);
  }

  /** @internal */
  override _invoke(input: TInput, config: RunnableConfig): Promise<TOutput> | TOutput {
    return this.fn(input, config);
  }

  /** @internal In a streamed sequence a lambda starts on its first input chunk, as LangChain's does. */
  override _transformRun(inputs: AsyncIterable<TInput>, scope: RunScope): AsyncGenerator<TOutput, void, undefined> {
    return transformOnFirstChunk(this, inputs, scope, (deferred, runScope) => this.callOnWholeInput(deferred, runScope));
  }

  private async *callOnWholeInput(inputs: AsyncIterable<TInput>, config: RunScope): AsyncGenerator<TOutput, void, undefined> {
    yield await this._invoke(await combineStream(inputs), config);
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
}

/** @throws {@link ConfigError} unless `options` is an object whose `name`, if set, is a non-empty string. */
export function validName(options: unknown, fallback: string): string {
  if (options === undefined) return fallback;
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('options', options, `Expected options to be an object, got ${describeValue(options)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  const name: unknown = (options as { name?: unknown }).name;
  if (name === undefined) return fallback;
  if (typeof name !== 'string' || name.length === 0) {
    throw new ConfigError('name', name, `Expected \`name\` to be a non-empty string, got ${describeValue(name)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  return name;
}
