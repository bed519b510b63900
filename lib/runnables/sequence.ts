import { ConfigError, describeValue } from '../errors';
import type { RunnableConfig, RunScope } from './config';
import { RunnableLambda } from './lambda';
import { registerSequenceFactory, Runnable, type RunnableLike, type StepMap } from './runnable';
import { isPlainObject, toRunnable } from './parallel';
import { once } from './run';

/** Options of {@link RunnableSequence.from}. */
export interface RunnableSequenceOptions {
  /** Name of the sequence's runs. @default 'RunnableSequence' */
  name?: string;
}

/**
 * Runs steps one after another, each step's output the next one's input. The sequence is a run of its own
 * and every step a child of it, in every propagation mode: the sequence passes its config on itself.
 * `stream` streams through the steps: a step that can transform a stream (a generator, a chat model at the
 * end) starts on the first chunk of the previous one.
 *
 * @example
 * ```ts
 * const chain = RunnableSequence.from([toPrompt, model, (message) => message.content]);
 * ```
 */
export class RunnableSequence<TInput, TOutput> extends Runnable<TInput, TOutput> {
  /** The steps, first to last. */
  readonly steps: readonly Runnable<unknown, unknown>[];

  /**
   * @param steps - runnables or functions; functions become {@link RunnableLambda}s.
   * @throws {@link ConfigError} when `steps` is empty or holds something else.
   */
  constructor(steps: readonly (RunnableLike<unknown, unknown> | StepMap<unknown>)[], options: RunnableSequenceOptions = {}) {
    super(options.name ?? 'RunnableSequence');
    if (!Array.isArray(steps) || steps.length === 0) {
      throw new ConfigError('steps', steps, `Expected RunnableSequence.from() to receive a non-empty array of runnables or functions, got ${describeValue(steps)}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
    const flat: Runnable<unknown, unknown>[] = [];
    steps.forEach((step: unknown, index) => {
      if (step instanceof RunnableSequence && step.boundConfig === undefined && step.name === 'RunnableSequence') flat.push(...step.steps);
      else if (step instanceof Runnable) flat.push(step as Runnable<unknown, unknown>);
      else if (typeof step === 'function') flat.push(new RunnableLambda(step as (input: unknown, config: RunnableConfig) => unknown));
      // A plain object of steps is a parallel, as in LangChain.
      else if (isPlainObject(step) && Object.keys(step).length > 0) flat.push(toRunnable(step, `steps[${index}]`));
      else {
        throw new ConfigError(`steps[${index}]`, step, `Expected \`steps[${index}]\` to be a runnable, a function or an object of steps, got ${describeValue(step)}.`, {
          code: 'INVALID_ARGUMENT',
        });
      }
    });
    this.steps = flat;
  }

  /**
   * A sequence of `steps`.
   *
   * @throws {@link ConfigError} when `steps` is empty or holds something that is neither a runnable nor a function.
   */
  static from<TInput = unknown, TOutput = unknown>(
    steps: readonly (RunnableLike<never, unknown> | StepMap<never>)[],
    options?: RunnableSequenceOptions,
  ): RunnableSequence<TInput, TOutput> {
    return new RunnableSequence<TInput, TOutput>(steps as readonly (RunnableLike<unknown, unknown> | StepMap<unknown>)[], options);
  }

  /** @internal */
  override async _invoke(input: TInput, config: RunnableConfig): Promise<TOutput> {
    let value: unknown = input;
    for (const step of this.steps) value = await step.invoke(value, config);
    return value as TOutput;
  }

  /** @internal */
  override _stream(input: TInput, config: RunnableConfig): AsyncIterator<TOutput> {
    const scope = config as RunScope;
    let chunks: AsyncIterable<unknown> = once(input);
    for (const step of this.steps) chunks = step._transformRun(chunks, scope);
    return (chunks as AsyncIterable<TOutput>)[Symbol.asyncIterator]();
  }
}

registerSequenceFactory(<TInput, TOutput>(steps: readonly (RunnableLike<unknown, unknown> | StepMap<unknown>)[]) => new RunnableSequence<TInput, TOutput>(steps));
