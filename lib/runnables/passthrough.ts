import { ConfigError, describeValue } from '../errors';
import type { RunnableConfig, RunScope } from './config';
import { checkedName, isPlainObject, RunnableParallel } from './parallel';
import { registerCompositionFactory, Runnable, type RunnableMapLike } from './runnable';
import { streamRun } from './run';

/** Options of {@link RunnablePassthrough}. */
export interface RunnablePassthroughOptions {
  /** Name of the passthrough's runs. @default 'RunnablePassthrough' */
  name?: string;
}

/**
 * Returns its input unchanged: a placeholder step, typically one key of a parallel that keeps the input
 * next to values computed from it. When streaming it passes each chunk on as it comes.
 *
 * @example
 * ```ts
 * const withContext = RunnableParallel.from({ question: new RunnablePassthrough(), context: retrieve });
 * ```
 */
export class RunnablePassthrough<TInput = unknown> extends Runnable<TInput, TInput> {
  /**
   * @param options - see {@link RunnablePassthroughOptions}.
   * @throws {@link ConfigError} when an option is invalid or unknown.
   */
  constructor(options: RunnablePassthroughOptions = {}) {
    super(checkedName(options, ['name'], 'RunnablePassthrough', 'RunnablePassthrough'));
  }

  /**
   * A step that adds keys to its input object, each computed in parallel from that object by a step.
   * In `invoke` its only run is the parallel computing the keys (a `RunnableMap` run), as in LangChain;
   * in `stream` a `RunnableAssign` run with that parallel as child, which first yields the input's keys,
   * then the new keys as they are computed.
   *
   * @param mapping - the keys to add: runnables, functions or objects of steps.
   * @returns a {@link RunnableAssign}.
   * @throws {@link ConfigError} when `mapping` is not a non-empty object of steps.
   * @example
   * ```ts
   * const chain = RunnablePassthrough.assign({ total: (order: { items: number[] }) => order.items.length });
   * await chain.invoke({ items: [1, 2] }); // { items: [1, 2], total: 2 }
   * ```
   */
  static assign<TInput extends Record<string, unknown>, TAdded extends Record<string, unknown>>(
    mapping: RunnableMapLike<TInput, TAdded>,
  ): RunnableAssign<TInput, TAdded> {
    return new RunnableAssign<TInput, TAdded>(new RunnableParallel<TInput, TAdded>(mapping));
  }

  /** @internal */
  override _invoke(input: TInput): TInput {
    return input;
  }

  /** @internal Passes the chunks on as they come. */
  override _transformRun(inputs: AsyncIterable<TInput>, scope: RunScope): AsyncGenerator<TInput, void, undefined> {
    return streamRun(this, scope, scope, '' as TInput, () => inputs[Symbol.asyncIterator]());
  }
}

/**
 * Adds the outputs of a parallel to its input object. Made by {@link RunnablePassthrough.assign} and
 * {@link Runnable.assign}.
 */
export class RunnableAssign<TInput extends Record<string, unknown>, TAdded extends Record<string, unknown>> extends Runnable<TInput, TInput & TAdded> {
  /** The parallel computing the added keys. */
  readonly mapper: RunnableParallel<TInput, TAdded>;

  /**
   * @param mapper - the parallel computing the added keys.
   * @throws {@link ConfigError} when `mapper` is not a {@link RunnableParallel}.
   */
  constructor(mapper: RunnableParallel<TInput, TAdded>) {
    super('RunnableAssign');
    if (!(mapper instanceof RunnableParallel)) {
      throw new ConfigError('mapper', mapper, `Expected RunnableAssign to receive a RunnableParallel, got ${describeValue(mapper)}.`, { code: 'INVALID_ARGUMENT' });
    }
    this.mapper = mapper;
  }

  /**
   * Runs the parallel on `input` and returns `input` with its outputs added. Like LangChain's, the
   * assign has no run of its own here (unless bound to a config or listeners): the parallel's run is it.
   */
  override async invoke(input: TInput, config?: RunnableConfig): Promise<TInput & TAdded> {
    if (this.boundConfig !== undefined || this._listeners !== undefined) return super.invoke(input, config);
    checkInput(input);
    return { ...input, ...(await this.mapper.invoke(input, config)) };
  }

  /** @internal */
  override async _invoke(input: TInput, config: RunnableConfig): Promise<TInput & TAdded> {
    checkInput(input);
    return { ...input, ...(await this.mapper.invoke(input, config)) };
  }

  /** @internal */
  override _stream(input: TInput, config: RunnableConfig): AsyncIterator<TInput & TAdded> {
    return this.streamAssigned(input, config as RunScope);
  }

  private async *streamAssigned(input: TInput, scope: RunScope): AsyncGenerator<TInput & TAdded, void, undefined> {
    checkInput(input);
    const added = new Set(Object.keys(this.mapper.steps));
    const kept = Object.fromEntries(Object.entries(input).filter(([key]) => !added.has(key)));
    if (Object.keys(kept).length > 0) yield kept as TInput & TAdded;
    for await (const chunk of this.mapper.stream(input, scope)) yield chunk as TInput & TAdded;
  }
}

function checkInput(input: unknown): void {
  if (!isPlainObject(input)) {
    throw new ConfigError('input', input, `Expected the input of RunnableAssign (assign()) to be an object, got ${describeValue(input)}.`, { code: 'INVALID_ARGUMENT' });
  }
}

registerCompositionFactory('assign', (mapping) => RunnablePassthrough.assign(mapping as RunnableMapLike<Record<string, unknown>, Record<string, unknown>>));
