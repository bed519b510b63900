import { ConfigError, describeValue } from '../errors';
import { tagNextRun, type RunnableConfig, type RunScope } from './config';
import { checkedName, toRunnable } from './parallel';
import { Runnable, type RunnableLike, type RunnableMapLike } from './runnable';

/** A branch of {@link RunnableBranch.from}: a condition on the input and the step to run when it holds. */
export type BranchLike<TInput, TOutput> = readonly [condition: RunnableLike<TInput, unknown>, step: RunnableLike<TInput, TOutput> | RunnableMapLike<TInput, TOutput>];

/** Options of {@link RunnableBranch.from}. */
export interface RunnableBranchOptions {
  /** Name of the branch's runs. @default 'RunnableBranch' */
  name?: string;
}

/**
 * Runs the step of the first branch whose condition holds, or the default step. Conditions are evaluated
 * in order, each a child run tagged `condition:N` (from 1); the chosen step is a child run tagged
 * `branch:N`, or `branch:default`, as in LangChain. A condition holds when its output is truthy.
 *
 * @example
 * ```ts
 * const route = RunnableBranch.from([
 *   [(q: string) => q.includes('weather'), weatherChain],
 *   [(q: string) => q.includes('news'), newsChain],
 *   generalChain,
 * ]);
 * ```
 */
export class RunnableBranch<TInput, TOutput> extends Runnable<TInput, TOutput> {
  /** The conditions and their steps, in order. */
  readonly branches: readonly (readonly [Runnable<TInput, unknown>, Runnable<TInput, TOutput>])[];
  /** The step run when no condition holds. */
  readonly default: Runnable<TInput, TOutput>;

  /**
   * @param branches - `[condition, step]` pairs, then the default step, last.
   * @param options - see {@link RunnableBranchOptions}.
   * @throws {@link ConfigError} when `branches` is empty, a pair is malformed, or a step is not a runnable,
   *   function or object of steps.
   */
  constructor(branches: readonly [...BranchLike<TInput, TOutput>[], RunnableLike<TInput, TOutput> | RunnableMapLike<TInput, TOutput>], options: RunnableBranchOptions = {}) {
    super(checkedName(options, ['name'], 'RunnableBranch', 'RunnableBranch'));
    if (!Array.isArray(branches) || branches.length === 0) {
      throw new ConfigError(
        'branches',
        branches,
        `Expected RunnableBranch.from() to receive an array of [condition, runnable] pairs followed by a default runnable, got ${describeValue(branches)}.`,
        { code: 'INVALID_ARGUMENT' },
      );
    }
    const pairs = branches.slice(0, -1) as unknown[];
    this.branches = pairs.map((pair, index) => {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new ConfigError(`branches[${index}]`, pair, `Expected \`branches[${index}]\` to be a [condition, runnable] pair, got ${describeValue(pair)}.`, {
          code: 'INVALID_ARGUMENT',
        });
      }
      return [
        toRunnable(pair[0], `branches[${index}][0]`),
        toRunnable(pair[1], `branches[${index}][1]`) as Runnable<TInput, TOutput>,
      ] as const;
    });
    this.default = toRunnable(branches[branches.length - 1], `branches[${branches.length - 1}]`) as Runnable<TInput, TOutput>;
  }

  /**
   * A branch over `branches`.
   *
   * @param branches - `[condition, step]` pairs (runnables, functions or objects of steps), then the default step.
   * @param options - see {@link RunnableBranchOptions}.
   * @returns the branch.
   * @throws {@link ConfigError} when `branches` is empty or malformed.
   * @example
   * ```ts
   * const sign = RunnableBranch.from([[(x: number) => x < 0, () => 'negative'], () => 'not negative']);
   * ```
   */
  static from<TInput = unknown, TOutput = unknown>(
    branches: readonly [...BranchLike<TInput, TOutput>[], RunnableLike<TInput, TOutput> | RunnableMapLike<TInput, TOutput>],
    options?: RunnableBranchOptions,
  ): RunnableBranch<TInput, TOutput> {
    return new RunnableBranch<TInput, TOutput>(branches, options);
  }

  /** @internal */
  override async _invoke(input: TInput, config: RunnableConfig): Promise<TOutput> {
    const scope = config as RunScope;
    const [step, tags] = await this.choose(input, scope);
    return step.invoke(input, tagNextRun(scope, tags));
  }

  /** @internal */
  override _stream(input: TInput, config: RunnableConfig): AsyncIterator<TOutput> {
    return this.streamChosen(input, config as RunScope);
  }

  private async *streamChosen(input: TInput, scope: RunScope): AsyncGenerator<TOutput, void, undefined> {
    const [step, tags] = await this.choose(input, scope);
    yield* step.stream(input, tagNextRun(scope, tags));
  }

  /** Evaluates the conditions in order: the step to run and its tags. */
  private async choose(input: TInput, scope: RunScope): Promise<[Runnable<TInput, TOutput>, readonly string[]]> {
    for (let index = 0; index < this.branches.length; index++) {
      const [condition, step] = this.branches[index] as readonly [Runnable<TInput, unknown>, Runnable<TInput, TOutput>];
      if (await condition.invoke(input, tagNextRun(scope, [`condition:${index + 1}`]))) return [step, [`branch:${index + 1}`]];
    }
    return [this.default, ['branch:default']];
  }
}
