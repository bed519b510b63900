import { createTracerRuns, EVENT, emit } from '../callbacks/dispatch';
import type { Serialized } from '../callbacks/handler';
import { ConfigError, describeValue } from '../errors';
import { combineNormalized, normalizeConfig, RunScope, type NormalizedConfig, type RunnableConfig } from './config';
import { validListeners, type RunListeners } from './listeners';
import type { FallbacksOptions } from './fallbacks';
import type { RetryOptions } from './retry';
import type { StreamEvent, StreamEventsFilters } from '../events/types';
import type { StreamEventsOptions } from '../events/stream-events';
import { combineStream, executeRun, inheritedScope, streamRun, type RunTarget } from './run';

/** Options of {@link Runnable.batch}. */
export interface BatchOptions {
  /**
   * Resolve with the error in place of a failed input's output instead of rejecting on the first failure.
   * @default false
   */
  returnExceptions?: boolean;
}

/** A runnable accepted where a function could be given too: `pipe`, `RunnableSequence.from`, compositions. */
export type RunnableLike<TInput, TOutput> =
  | Runnable<TInput, TOutput>
  | ((input: TInput, config: RunnableConfig) => TOutput | Promise<TOutput>);

/**
 * A plain object of steps, accepted wherever a step is expected (`pipe`, `RunnableSequence.from`, the steps
 * of compositions): each key's step gets the same input and its output becomes that key of the result,
 * as with `RunnableParallel`.
 */
export type RunnableMapLike<TInput, TOutput> = {
  [K in keyof TOutput]: RunnableLike<TInput, TOutput[K]> | NestedMapLike<TInput, TOutput[K]>;
};

/** A nested object of steps: only where the output is itself an object. */
type NestedMapLike<TInput, TOutput> = unknown extends TOutput
  ? StepMap<TInput>
  : TOutput extends Record<string, unknown>
    ? RunnableMapLike<TInput, TOutput>
    : never;

/** An object of steps whose outputs are not known statically, as `RunnableSequence.from` takes them. */
export interface StepMap<TInput> {
  readonly [key: string]: RunnableLike<TInput, unknown> | StepMap<TInput>;
}

type SequenceFactory = <TInput, TOutput>(steps: readonly (RunnableLike<unknown, unknown> | StepMap<unknown>)[]) => Runnable<TInput, TOutput>;
let sequenceFactory: SequenceFactory | undefined;

/** @internal Lets `RunnableSequence` provide `pipe` without a circular import. */
export function registerSequenceFactory(factory: SequenceFactory): void {
  sequenceFactory = factory;
}

interface CompositionFactories {
  assign?: (mapping: StepMap<unknown>) => Runnable<Record<string, unknown>, Record<string, unknown>>;
  retry?: <TInput, TOutput>(bound: Runnable<TInput, TOutput>, options: RetryOptions<TInput> | undefined) => Runnable<TInput, TOutput>;
  fallbacks?: <TInput, TOutput>(
    runnable: Runnable<TInput, TOutput>,
    fallbacks: readonly RunnableLike<TInput, TOutput>[],
    options: FallbacksOptions | undefined,
  ) => Runnable<TInput, TOutput>;
}
const factories: CompositionFactories = {};

type EventStreamFactory = <TInput>(
  runnable: Runnable<TInput, unknown>,
  input: TInput,
  options: StreamEventsOptions,
  filters: StreamEventsFilters | undefined,
) => AsyncIterableIterator<StreamEvent> | AsyncIterableIterator<Uint8Array>;
let eventStreamFactory: EventStreamFactory | undefined;

/** @internal Lets `lib/events` provide `streamEvents` without a circular import. */
export function registerEventStreamFactory(factory: EventStreamFactory): void {
  eventStreamFactory = factory;
}

/** @internal Lets the composition modules provide `assign`, `withRetry` and `withFallbacks` without a circular import. */
export function registerCompositionFactory<TKey extends keyof CompositionFactories>(key: TKey, factory: NonNullable<CompositionFactories[TKey]>): void {
  factories[key] = factory;
}

function factory<TKey extends keyof CompositionFactories>(key: TKey): NonNullable<CompositionFactories[TKey]> {
  const found = factories[key];
  if (found === undefined) throw new Error(`callscope: the ${key} composition is not loaded; import callscope from its entry point.`);
  return found;
}

/**
 * A unit of work that reports its runs to callback handlers. Every call is a run: handlers get a start
 * event, then an end or error event, with the run linked to the run it was called from. Inside the body,
 * the run's config is active in context (in the implicit propagation modes), so runnables called there
 * without `config` still link to it and inherit its handlers, tags, metadata and signal.
 *
 * Subclass it by implementing {@link Runnable._invoke}; most code uses {@link RunnableLambda},
 * {@link RunnableGenerator}, {@link RunnableSequence} or `tool()` instead.
 */
export abstract class Runnable<TInput = unknown, TOutput = unknown> implements RunTarget<TInput, TOutput> {
  /** Name of this runnable's runs in handlers and traces. */
  declare name: string;
  /** @internal Config attached with `withConfig`/`withCallbacks`, already validated. */
  declare boundConfig: NormalizedConfig | undefined;
  /** @internal Listeners attached with `withListeners`, called for this runnable's own runs only. */
  declare _listeners: readonly RunListeners[] | undefined;
  declare private serializedCache: Serialized | undefined;

  // The fields above are declared and assigned here, not initialized in the class body: V8 runs a class's
  // field initializers as a function of their own, about 340 instructions per object on Node 20, and a
  // server's request scope makes a runnable per request.
  /** @param name - name of this runnable's runs; defaults to the class name. */
  constructor(name?: string) {
    const runName = name ?? new.target.name;
    try {
      this.name = runName;
    } catch {
      // A subclass with a getter-only `name`: the name given here shadows it, as a field would.
      Object.defineProperty(this, 'name', { value: runName, writable: true, enumerable: true, configurable: true });
    }
    this.boundConfig = undefined;
    this._listeners = undefined;
    this.serializedCache = undefined;
  }

  /**
   * The body of a run: computes the output for one input. `config` is the run's scope; pass it to
   * runnables you call to link them in every propagation mode, including `'explicit'`.
   */
  abstract _invoke(input: TInput, config: RunnableConfig): Promise<TOutput> | TOutput;

  /**
   * Runs once on `input`.
   *
   * @param input - the input.
   * @param config - handlers, tags, metadata, signal and more for this run and the runs below it.
   * @returns the output.
   * @throws {@link ConfigError} (as a rejection) when `config` is invalid; {@link AbortError} when the signal
   *   aborts; otherwise whatever the body throws, unchanged.
   * @example
   * ```ts
   * const shout = RunnableLambda.from((text: string) => text.toUpperCase());
   * await shout.invoke('hi', { callbacks: [tracer], tags: ['demo'] }); // 'HI'
   * ```
   */
  invoke(input: TInput, config?: RunnableConfig): Promise<TOutput> {
    return executeRun(this, input, config);
  }

  /**
   * Runs once per input, at most `config.maxConcurrency` at a time, each input a run of its own.
   *
   * @param inputs - the inputs.
   * @param config - one config for all runs, or one per input (`runId` only in per-input configs).
   * @param options - see {@link BatchOptions}.
   * @returns the outputs, in input order.
   * @throws {@link ConfigError} when `inputs` is not an array, `config` has the wrong shape, or one `runId`
   *   would be shared by several runs.
   */
  batch(inputs: readonly TInput[], config?: RunnableConfig | readonly RunnableConfig[], options?: BatchOptions & { returnExceptions?: false }): Promise<TOutput[]>;
  batch(inputs: readonly TInput[], config: RunnableConfig | readonly RunnableConfig[] | undefined, options: BatchOptions & { returnExceptions: true }): Promise<(TOutput | Error)[]>;
  async batch(
    inputs: readonly TInput[],
    config?: RunnableConfig | readonly RunnableConfig[],
    options: BatchOptions = {},
  ): Promise<(TOutput | Error)[]> {
    if (!Array.isArray(inputs)) {
      throw new ConfigError('inputs', inputs, `Expected \`inputs\` of batch() to be an array, got ${describeValue(inputs)}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
    const configs = configsFor(inputs.length, config);
    const limit = concurrencyLimit(config, inheritedScope(undefined));
    const results = new Array<TOutput | Error>(inputs.length);
    let next = 0;
    let failure: { error: unknown } | undefined;
    const worker = async (): Promise<void> => {
      while (next < inputs.length && failure === undefined) {
        const index = next++;
        try {
          results[index] = await this.invoke(inputs[index] as TInput, configs[index]);
        } catch (error) {
          if (options.returnExceptions === true) results[index] = toError(error);
          else failure ??= { error };
        }
      }
    };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < Math.min(limit, inputs.length); i++) workers.push(worker());
    await Promise.all(workers);
    if (failure !== undefined) throw failure.error;
    return results;
  }

  /**
   * Runs once on `input` and yields the output as it is produced. Runnables that cannot stream yield their
   * whole output as one chunk. The run is linked to the run active when `stream` was called, even if the
   * chunks are consumed elsewhere.
   *
   * @returns an async iterable of chunks (awaiting it first, as LangChain code does, also works).
   * @throws {@link ConfigError} (when iterated) if `config` is invalid.
   */
  stream(input: TInput, config?: RunnableConfig): AsyncGenerator<TOutput, void, undefined> {
    return streamRun(this, config, inheritedScope(config), input, (scope) => this._stream(input, scope));
  }

  /**
   * Runs once on `input` and streams the events of this run and of every run below it, in LangChain's v2
   * schema (`on_chain_start`, `on_chat_model_stream`, `on_tool_end`, ...), each with `parent_ids` (root
   * first); failing chains and chat models also send `on_chain_error` / `on_chat_model_error` before the
   * stream rethrows. Chat models stream their tokens while an event stream listens, even when invoked.
   * Stopping early (`break`, `return()`) aborts the run tree; a slow consumer pauses the run (bounded buffer,
   * `EVENT_BUFFER_SIZE` events). `options.callbacks` handlers get their events as usual.
   *
   * @param input - the input.
   * @param options - a {@link RunnableConfig} plus `version: 'v2'` (required) and optional
   *   `encoding: 'text/event-stream'`, which yields server-sent event frames as `Uint8Array` chunks.
   * @param filters - include/exclude runs by name, type or tag, with LangChain's semantics.
   * @returns an async iterable of events (of `Uint8Array` chunks with the encoding).
   * @throws {@link ConfigError} at once when `version`, `encoding` or `filters` is invalid; when iterated,
   *   what the run throws (after its error events), `ConfigError` for an invalid config included.
   * @example
   * ```ts
   * for await (const e of chain.streamEvents({ topic: 'cats' }, { version: 'v2' })) {
   *   if (e.event === 'on_chat_model_stream') process.stdout.write(e.data.chunk.content);
   * }
   * ```
   */
  streamEvents(
    input: TInput,
    options: StreamEventsOptions & { encoding: 'text/event-stream' },
    filters?: StreamEventsFilters,
  ): AsyncIterableIterator<Uint8Array>;
  streamEvents(input: TInput, options: StreamEventsOptions & { encoding?: undefined }, filters?: StreamEventsFilters): AsyncIterableIterator<StreamEvent>;
  streamEvents(
    input: TInput,
    options: StreamEventsOptions,
    filters?: StreamEventsFilters,
  ): AsyncIterableIterator<StreamEvent> | AsyncIterableIterator<Uint8Array> {
    if (eventStreamFactory === undefined) throw new Error('callscope: streamEvents is not loaded; import callscope from its entry point.');
    return eventStreamFactory(this, input, options, filters);
  }

  /**
   * @internal Streams one run over a streamed input (used by sequences). Runnables that cannot transform
   * read the whole input first, then run on it.
   */
  _transformRun(inputs: AsyncIterable<TInput>, scope: RunScope): AsyncGenerator<TOutput, void, undefined> {
    return defaultTransform(this, inputs, scope);
  }

  /**
   * The chunks of one run. Override to stream; the default yields the whole output of `_invoke` once.
   * Runs inside the run's context.
   */
  _stream(input: TInput, config: RunnableConfig): AsyncIterator<TOutput> {
    return invokeOnce(this, input, config);
  }

  /**
   * A sequence that feeds this runnable's output to `next`.
   *
   * @example
   * ```ts
   * const chain = prompt.pipe(model).pipe((message) => message.content);
   * ```
   */
  pipe<TNext>(next: RunnableLike<TOutput, TNext> | RunnableMapLike<TOutput, TNext>): Runnable<TInput, TNext> {
    if (sequenceFactory === undefined) throw new Error('callscope: RunnableSequence is not loaded; import callscope from its entry point.');
    return sequenceFactory<TInput, TNext>([this, next as RunnableLike<unknown, unknown>]);
  }

  /**
   * A copy of this runnable (same class, same fields) whose runs all use `config`: handlers and tags are
   * added to the call's, metadata merged (the call's keys win).
   *
   * @throws {@link ConfigError} when `config` is invalid or sets `runId` (every run needs its own id).
   */
  withConfig(config: RunnableConfig): this {
    const normalized = normalizeConfig(config, 'withConfig() config');
    if (normalized.runId !== undefined) {
      throw new ConfigError(
        'runId',
        normalized.runId,
        'withConfig() cannot bind `runId`: every run needs its own id. Pass `runId` to invoke() instead.',
      );
    }
    const copy = Object.assign(Object.create(Object.getPrototypeOf(this) as object) as this, this);
    copy.boundConfig = this.boundConfig === undefined ? normalized : combineNormalized(this.boundConfig, normalized);
    return copy;
  }

  /** How this runnable describes itself to handlers: LangChain's `Serialized` shape, ending with its name. */
  get serialized(): Serialized {
    this.serializedCache ??= Object.freeze({
      lc: 1 as const,
      type: 'not_implemented' as const,
      id: Object.freeze(['callscope', this.kind, this.name]) as string[],
    });
    return this.serializedCache;
  }

  /** @internal The family used in `serialized.id`. */
  protected get kind(): string {
    return 'runnables';
  }

  /**
   * A sequence of this runnable and a step that adds keys to its output object, each computed in parallel
   * from that object (`RunnablePassthrough.assign(mapping)`).
   *
   * @param mapping - the keys to add: runnables, functions or objects of steps.
   * @returns the sequence.
   * @throws {@link ConfigError} when `mapping` is not a non-empty object of steps.
   * @example
   * ```ts
   * const withLength = parse.assign({ length: (doc: { text: string }) => doc.text.length });
   * ```
   */
  assign<TAdded extends Record<string, unknown>>(mapping: RunnableMapLike<TOutput, TAdded>): Runnable<TInput, TOutput & TAdded> {
    const assign = factory('assign')(mapping as StepMap<unknown>);
    return this.pipe(assign as unknown as Runnable<TOutput, TOutput & TAdded>);
  }

  /**
   * A runnable that runs this one again when it fails: each attempt is a child run (tagged
   * `retry:attempt:N` from the second on, as in LangChain), with exponential backoff and jitter between
   * attempts. The waits end early when the signal aborts or the deadline passes; `AbortError` is never
   * retried; the last attempt's error is the run's error.
   *
   * @param options - see {@link RetryOptions}.
   * @returns a `RunnableRetry`, whose runs are named like this runnable's.
   * @throws {@link ConfigError} when an option is invalid or unknown.
   * @example
   * ```ts
   * const sturdy = model.withRetry({ stopAfterAttempt: 4, retryIf: (error) => isRateLimit(error) });
   * ```
   */
  withRetry(options?: RetryOptions<TInput>): Runnable<TInput, TOutput> {
    return factory('retry')(this, options);
  }

  /**
   * A runnable that tries this one, then each fallback in order until one succeeds, each a child run.
   * When all fail, the run fails with this runnable's error. When streaming, it falls back only while no
   * chunk has been produced.
   *
   * @param fallbacks - runnables, functions or objects of steps to try in order.
   * @param options - see {@link FallbacksOptions}.
   * @returns a `RunnableWithFallbacks`.
   * @throws {@link ConfigError} when `fallbacks` is not a non-empty array of steps, or an option is invalid.
   * @example
   * ```ts
   * const answer = bigModel.withFallbacks([smallModel]);
   * ```
   */
  withFallbacks(fallbacks: readonly RunnableLike<TInput, TOutput>[], options?: FallbacksOptions): Runnable<TInput, TOutput> {
    return factory('fallbacks')(this, fallbacks, options);
  }

  /**
   * A copy of this runnable (same class, same fields) whose own runs call `listeners` with the run (id,
   * name, type, inputs, outputs or error, parent, times), as LangChain's `withListeners` does. Listeners
   * are awaited like a blocking handler, and a failing one is reported like a failing handler. Runs
   * nested inside do not call them: they are inherited by nothing.
   *
   * @param listeners - `onStart`, `onEnd`, `onError`.
   * @returns the copy.
   * @throws {@link ConfigError} when `listeners` holds something else than these functions.
   * @example
   * ```ts
   * const timed = chain.withListeners({ onEnd: (run) => metrics.record(run.name, run.end_time! - run.start_time) });
   * ```
   */
  withListeners(listeners: RunListeners): this {
    const checked = validListeners(listeners);
    const copy = Object.assign(Object.create(Object.getPrototypeOf(this) as object) as this, this);
    copy._listeners = [...(this._listeners ?? []), checked];
    return copy;
  }

  /** @internal */
  _emitStart(scope: RunScope, input: TInput | undefined): Promise<void> | undefined {
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.chainStart);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    const args = [this.serialized, asInputs(input), runId, scope._parentRunId, scope.tags, scope.metadata, undefined, scope._runName];
    const tracers = scope.callbacks.handlerSet.tracers(EVENT.chainStart);
    if (tracers.length > 0) createTracerRuns(tracers, '_createRunForChainStart', args, runId);
    return emit(listeners, 'handleChainStart', args, runId, scope._rootRunId);
  }

  /** @internal */
  _emitEnd(scope: RunScope, output: TOutput | undefined): Promise<void> | undefined {
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.chainEnd);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    return emit(listeners, 'handleChainEnd', [asOutputs(output), runId, scope._parentRunId, scope.tags], runId, scope._rootRunId);
  }

  /** @internal */
  _emitError(scope: RunScope, error: unknown): Promise<void> | undefined {
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.chainError);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    return emit(listeners, 'handleChainError', [error, runId, scope._parentRunId, scope.tags], runId, scope._rootRunId);
  }
}

// LangChain hands chain handlers objects: a non-object value `v` becomes `{ input: v }` / `{ output: v }`.
// Two functions with literal keys: a computed key makes V8 build a slow dictionary object on every event.
function asInputs(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : { input: value };
}

function asOutputs(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : { output: value };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  try {
    return !Array.isArray(value);
  } catch {
    // A revoked Proxy: formatting an event for handlers must never fail the run, so it is wrapped.
    return false;
  }
}

async function* invokeOnce<TInput, TOutput>(
  runnable: Runnable<TInput, TOutput>,
  input: TInput,
  config: RunnableConfig,
): AsyncGenerator<TOutput, void, undefined> {
  yield await runnable._invoke(input, config);
}

async function* defaultTransform<TInput, TOutput>(
  runnable: Runnable<TInput, TOutput>,
  inputs: AsyncIterable<TInput>,
  scope: RunScope,
): AsyncGenerator<TOutput, void, undefined> {
  const input = await combineStream(inputs);
  yield* runnable.stream(input, scope);
}

function configsFor(count: number, config: RunnableConfig | readonly RunnableConfig[] | undefined): (RunnableConfig | undefined)[] {
  if (Array.isArray(config)) {
    if (config.length !== count) {
      throw new ConfigError(
        'config',
        config,
        `Expected one config per input in batch(): got ${config.length} configs for ${count} inputs.`,
        { code: 'INVALID_ARGUMENT' },
      );
    }
    return config as RunnableConfig[];
  }
  const single = config as RunnableConfig | undefined;
  if (single?.runId !== undefined && count > 1) {
    throw new ConfigError(
      'runId',
      single.runId,
      'A single config with `runId` cannot be shared by the runs of batch(): give one config per input instead.',
    );
  }
  return new Array<RunnableConfig | undefined>(count).fill(single);
}

function concurrencyLimit(config: RunnableConfig | readonly RunnableConfig[] | undefined, inherited: RunScope | undefined): number {
  const first: unknown = Array.isArray(config) ? config[0] : config;
  const explicit = first instanceof RunScope ? first.maxConcurrency : (first as RunnableConfig | undefined)?.maxConcurrency;
  if (explicit !== undefined && !(Number.isInteger(explicit) && explicit >= 1) && explicit !== Number.POSITIVE_INFINITY) {
    throw new ConfigError(
      'maxConcurrency',
      explicit,
      `Invalid RunnableConfig: expected \`maxConcurrency\` to be a whole number of at least 1 (or Infinity), got ${describeValue(explicit)}.`,
    );
  }
  return explicit ?? inherited?.maxConcurrency ?? Number.POSITIVE_INFINITY;
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

