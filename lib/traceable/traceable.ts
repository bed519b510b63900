import { EVENT, emit } from '../callbacks/dispatch';
import type { RetrievedDocument } from '../callbacks/handler';
import { ConfigError, describeValue } from '../errors';
import { lazySchema, parseOrThrow } from '../internal/validation';
import type { AIChatMessage, ChatMessage } from '../models/messages';
import { abortErrorFor, raceAbort } from '../runnables/cancellation';
import { combineChunks } from '../runnables/combine';
import { combineNormalized, normalizeConfig, RunScope, type RunnableConfig } from '../runnables/config';
import { emitStart, enter, followBody, inheritedScope, inRun, leave, leaveAfter, openScope } from '../runnables/run';
import type { LostCallStyle } from '../runnables/lost-callbacks';
import { Runnable } from '../runnables/runnable';
import { ReportingChatModel, reportedMessage } from './reporting-chat-model';
import { RunHandle } from './run-handle';

/** The kinds of run a traceable function can report itself as. */
export type TraceableRunType = 'chain' | 'tool' | 'llm' | 'retriever';

/** Any function: what {@link traceable} accepts. */
export type TraceableTarget = (...args: never[]) => unknown;

/**
 * What a traceable function's run reports as its output: the awaited result, or for a streamed result
 * (an async iterable, a `ReadableStream`, or a promise of one) its chunks combined.
 */
export type TraceableOutput<TResult> =
  TResult extends ReadableStream<infer TChunk>
    ? TChunk
    : TResult extends AsyncIterable<infer TChunk>
      ? TChunk
      : Awaited<TResult> extends AsyncIterable<infer TChunk>
        ? TChunk
        : Awaited<TResult>;

/** Options of {@link traceable}. */
export interface TraceableOptions<TArgs extends unknown[] = unknown[], TResult = unknown> {
  /** Name of the function's runs. @default the function's name, else `'traceable'` */
  name?: string;
  /**
   * What kind of run each call is: `'chain'` (chain events), `'tool'` (tool events), `'llm'` (chat model
   * events, tokens for streamed string chunks) or `'retriever'` (retriever events, the output reported as
   * documents).
   * @default 'chain'
   */
  runType?: TraceableRunType;
  /** Tags of every run of the function (and inherited by the runs below it). @default none */
  tags?: readonly string[];
  /** Metadata of every run of the function (and inherited by the runs below it). @default none */
  metadata?: Record<string, unknown>;
  /**
   * Shapes the input handlers see, from the call's arguments (to drop secrets or large values). The function
   * itself still gets its arguments unchanged.
   * @default one argument as itself, several as `{ args: [...] }`; a run's config passed as an argument (a
   *   runnable body's `config`, `getCurrentConfig()`) is left out
   */
  processInputs?: (args: Readonly<TArgs>) => unknown;
  /**
   * Shapes the output handlers see, from the awaited result or the combined chunks of a streamed one. The
   * caller still gets the result unchanged.
   * @default the output as is
   */
  processOutputs?: (output: TraceableOutput<TResult>) => unknown;
}

/** A function traced by {@link traceable}: `fn`'s exact type, plus `withConfig`. */
export type TraceableFunction<TFn extends TraceableTarget> = TFn & {
  /**
   * The same traced function, with `config` applied to every call: handlers, tags and metadata added, and,
   * when `config` is the config a runnable's body received, its runs linked under that run. This is how a
   * traceable function joins a run in `'explicit'` mode.
   *
   * @throws {@link ConfigError} when `config` is invalid or sets `runId`.
   */
  withConfig(config: RunnableConfig): TraceableFunction<TFn>;
};

type ArgsOf<TFn> = TFn extends (...args: infer TArgs) => unknown ? TArgs : never;
type ResultOf<TFn> = TFn extends (...args: never[]) => infer TResult ? TResult : never;

const RUN_TYPES: readonly TraceableRunType[] = ['chain', 'tool', 'llm', 'retriever'];

const optionsSchema = lazySchema((z) =>
  z.strictObject({
    name: z.string().min(1).optional(),
    runType: z.enum(RUN_TYPES as ['chain', 'tool', 'llm', 'retriever']).optional(),
    tags: z.array(z.string()).optional(),
    metadata: z.custom<Record<string, unknown>>((value) => value !== null && typeof value === 'object' && !Array.isArray(value)).optional(),
    processInputs: z.custom<(args: unknown[]) => unknown>((value) => typeof value === 'function').optional(),
    processOutputs: z.custom<(output: unknown) => unknown>((value) => typeof value === 'function').optional(),
  }),
);

const expectations = {
  name: 'a non-empty string',
  runType: "one of 'chain', 'tool', 'llm', 'retriever'",
  tags: 'an array of strings',
  metadata: 'a plain object',
  processInputs: 'a function of the arguments array',
  processOutputs: 'a function of the output',
};

/**
 * Makes `fn` a traced function: every call is a run, nested under the run active where it is called, and
 * the runnables, tools, models, wrapped SDK clients and other traceable functions it calls nest under it
 * with no config passed (in the implicit propagation modes).
 *
 * The traced function has `fn`'s exact type and calls `fn` with the same `this` and arguments. How its run
 * follows the result:
 * - an `async` function, or any function returning a promise: the run ends when the promise settles;
 * - an async generator function, or a function returning an async iterable or a `ReadableStream` (or a
 *   promise of one): the caller gets a stream of the same chunks, and the run stays open until the stream
 *   is consumed, reporting the chunks combined (see `combineChunks`) as its output. A consumer that stops
 *   early (`break`, `return()`, `cancel()`) ends it normally with what it got; an error ends it with an
 *   error event;
 * - a synchronous function stays synchronous: it returns (or throws) before any async handler is waited for.
 *
 * Errors are recorded (an error event) and rethrown unchanged. Synchronous handlers see a synchronous
 * function's start and end before it returns. An async handler is called in order but not waited for by a
 * synchronous function (it cannot wait without changing its return type): `awaitAllCallbacks()` waits for
 * it. `async` functions and async generator functions wait for async handlers as runnables do: the start
 * event is delivered before their body runs, the end before their promise resolves.
 *
 * Errors that stop the run before it starts (an invalid bound config, `onLostCallbacks: 'throw'`, a
 * signal already aborted) are thrown synchronously, except by `async` functions (a rejected promise) and
 * async generator functions (thrown by the first `next()`).
 *
 * In `'explicit'` propagation mode nothing is inherited from context: a traceable function starts a root
 * run unless it is given the config of the run to join with `traced.withConfig(config)`, the config a
 * runnable's body receives (`onLostCallbacks` reports a traceable function that lost its parent's handlers).
 *
 * @param fn - the function to trace.
 * @param options - see {@link TraceableOptions}.
 * @returns the traced function, with `withConfig`.
 * @throws {@link ConfigError} when `fn` is not a function or an option is invalid or unknown.
 * @example
 * ```ts
 * const search = traceable(async (query: string, k: number) => index.search(query, k), { name: 'search', runType: 'retriever' });
 * const agent = traceable(async (question: string) => {
 *   const docs = await search(question, 3); // a child run of `agent`
 *   return answer(question, docs);
 * });
 * await withCallbacks([new ConsoleTracer()], () => agent('What is callscope?'));
 * ```
 */
export function traceable<TFn extends TraceableTarget>(fn: TFn, options?: TraceableOptions<ArgsOf<TFn>, ResultOf<TFn>>): TraceableFunction<TFn> {
  if (typeof fn !== 'function') {
    throw new ConfigError('fn', fn, `Expected traceable() to receive a function, got ${describeValue(fn)}.`, { code: 'INVALID_ARGUMENT' });
  }
  const parsed = options === undefined ? {} : parseOrThrow(optionsSchema(), options, 'traceable() options', expectations);
  const name = parsed.name ?? (fn.name === '' ? 'traceable' : fn.name);
  const target = new TracedRun(name, parsed.runType ?? 'chain');
  if (parsed.tags !== undefined || parsed.metadata !== undefined) {
    target.boundConfig = normalizeConfig({ tags: parsed.tags, metadata: parsed.metadata }, 'traceable() options');
  }
  const plan: CallPlan = {
    fn: fn as unknown as (...args: unknown[]) => unknown,
    kind: kindOf(fn),
    target,
    parent: undefined,
    processInputs: parsed.processInputs,
    processOutputs: parsed.processOutputs,
  };
  return makeTraced(plan) as TraceableFunction<TFn>;
}

/** How a traced function runs: everything worked out once, when it is made. */
interface CallPlan {
  readonly fn: (...args: unknown[]) => unknown;
  readonly kind: 'async' | 'async-generator' | 'other';
  readonly target: TracedRun;
  /** A run's scope given through `withConfig`, which the calls join instead of the active run. */
  readonly parent: RunScope | undefined;
  readonly processInputs: ((args: unknown[]) => unknown) | undefined;
  readonly processOutputs: ((output: unknown) => unknown) | undefined;
}

// Declared `async`: its body can wait for async start handlers before running. Detected by the function's
// constructor, which native async functions (ES2017 and later output) have.
function kindOf(fn: TraceableTarget): CallPlan['kind'] {
  const constructorName = (fn as { constructor?: { name?: unknown } }).constructor?.name;
  if (constructorName === 'AsyncFunction') return 'async';
  if (constructorName === 'AsyncGeneratorFunction') return 'async-generator';
  return 'other';
}

function makeTraced(plan: CallPlan): unknown {
  let traced: (this: unknown, ...args: unknown[]) => unknown;
  switch (plan.kind) {
    case 'async':
      traced = function (this: unknown, ...args: unknown[]): unknown {
        return callAsync(plan, this, args);
      };
      break;
    case 'async-generator':
      traced = function (this: unknown, ...args: unknown[]): unknown {
        return callGenerator(plan, this, args);
      };
      break;
    case 'other':
      traced = function (this: unknown, ...args: unknown[]): unknown {
        return callOther(plan, this, args);
      };
      break;
  }
  Object.defineProperty(traced, 'name', { value: plan.target.name });
  Object.defineProperty(traced, 'withConfig', {
    value: (config: RunnableConfig) => makeTraced(withConfig(plan, config)),
  });
  return traced;
}

function withConfig(plan: CallPlan, config: RunnableConfig): CallPlan {
  if (config instanceof RunScope) {
    // The config a runnable's body (or getCurrentConfig()) gave: join that run, as invoke(input, config) does.
    return { ...plan, parent: config };
  }
  const normalized = normalizeConfig(config, 'withConfig() config');
  if (normalized.runId !== undefined) {
    throw new ConfigError('runId', normalized.runId, 'withConfig() cannot bind `runId`: every call of a traceable function is a run of its own.');
  }
  const target = plan.target.copy();
  target.boundConfig = target.boundConfig === undefined ? normalized : combineNormalized(target.boundConfig, normalized);
  return { ...plan, target };
}

function open(plan: CallPlan): RunHandle<unknown, unknown> {
  return RunHandle.open(plan.target, plan.parent, plan.parent ?? inheritedScope(undefined));
}

function inputOf(plan: CallPlan, args: unknown[]): unknown {
  if (plan.processInputs !== undefined) return plan.processInputs(args);
  const reported = withoutRunConfigs(args);
  return reported.length === 1 ? reported[0] : { args: reported };
}

/**
 * `args` without the run configs among them: a function that takes the config its caller's run received (to
 * pass it on in `'explicit'` mode, `fn(question, config)`) is not given that config as input. The config
 * holds the run's handlers and its parents' scopes: reported, it made every event of the call as large as
 * the run tree, and a value that reaches itself. The same array when there is none (the usual case).
 */
function withoutRunConfigs(args: unknown[]): unknown[] {
  let kept: unknown[] | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] instanceof RunScope) {
      kept ??= args.slice(0, i);
    } else if (kept !== undefined) kept.push(args[i]);
  }
  return kept ?? args;
}

function outputOf(plan: CallPlan, output: unknown): unknown {
  return plan.processOutputs === undefined ? output : plan.processOutputs(output);
}

function apply(fn: (...args: unknown[]) => unknown, thisArg: unknown, args: unknown[]): unknown {
  return fn.apply(thisArg, args);
}

/**
 * An `async` function: waits for async handlers like a runnable's `invoke`, and does the same work per
 * call (this is the hot path of nested traced code): its run is driven here without a {@link RunHandle},
 * which is made only for a streamed result or an error. Written with `then`, like `executeObservedRun`: the
 * call's promise is the one that follows the function's own.
 */
function callAsync(plan: CallPlan, thisArg: unknown, args: unknown[]): Promise<unknown> {
  const target = plan.target;
  let scope: RunScope;
  try {
    scope = openScope(target, plan.parent, plan.parent ?? inheritedScope(undefined), plan.parent === undefined);
  } catch (error) {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a ConfigError or LostCallbacksError, unchanged
    return Promise.reject(error);
  }
  enter(scope);
  const signal = scope.signal;
  if (signal?.aborted) {
    // Cancelled before it began: no events at all, as with invoke.
    leave(scope);
    return Promise.reject(abortErrorFor(scope, signal));
  }
  let started: Promise<void> | undefined;
  try {
    started = emitStart(target, scope, inputOf(plan, args));
  } catch (error) {
    // `processInputs` threw: no event was sent.
    leave(scope);
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the option's own error, unchanged
    return Promise.reject(error);
  }
  if (started === undefined) return callAsyncBody(plan, scope, signal, thisArg, args);
  return started.then(
    () => callAsyncBody(plan, scope, signal, thisArg, args),
    (error: unknown) => {
      // emitStart already ended the run with an error event.
      leave(scope);
      throw error;
    },
  );
}

/** The function's own call, once the start event was sent, then the end or error event (see {@link callAsync}). */
function callAsyncBody(plan: CallPlan, scope: RunScope, signal: AbortSignal | undefined, thisArg: unknown, args: unknown[]): Promise<unknown> {
  let result: unknown;
  try {
    result = inRun(scope, apply, plan.fn, thisArg, args);
  } catch (error) {
    return failAsyncCall(plan, scope, error);
  }
  return followBody(
    result,
    signal,
    scope,
    (output) => endAsyncCall(plan, scope, output),
    (error) => failAsyncCall(plan, scope, error),
  );
}

/** The function returned `output`: a stream is traced as it is read, anything else ends the run. */
function endAsyncCall(plan: CallPlan, scope: RunScope, output: unknown): unknown {
  const target = plan.target;
  if (output !== null && typeof output === 'object') {
    const stream = traceStream(plan, RunHandle.adopt(target, scope), output, undefined);
    if (stream !== undefined) return stream;
  }
  scope._ended = true;
  let ended: Promise<void> | undefined;
  try {
    ended = target._emitEnd(scope, outputOf(plan, output));
  } catch (error) {
    leave(scope);
    throw error;
  }
  return leaveAfter(scope, ended, output);
}

/** The function failed (or was aborted) with `error`: the error event, then a rejection with `error`. */
function failAsyncCall(plan: CallPlan, scope: RunScope, error: unknown): Promise<never> {
  let failed: Promise<void> | undefined;
  try {
    failed = RunHandle.adopt(plan.target, scope).fail(error);
  } catch (handlerError) {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a handler's own error, unchanged
    return Promise.reject(handlerError);
  }
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the function's own error, unchanged
  if (failed === undefined) return Promise.reject(error);
  return failed.then(() => {
    throw error;
  });
}

/** An async generator function: its body runs (in the run's context) as the consumer pulls. */
function callGenerator(plan: CallPlan, thisArg: unknown, args: unknown[]): unknown {
  let handle: RunHandle<unknown, unknown>;
  let started: Promise<void> | undefined;
  try {
    handle = open(plan);
    started = handle.start(inputOf(plan, args));
  } catch (error) {
    return failingGenerator(error);
  }
  // Creating the generator object runs none of its body.
  const generator = handle.run(apply, plan.fn, thisArg, args) as AsyncGenerator<unknown, unknown, unknown>;
  return tracedIterator(plan, handle, generator, started);
}

/** Any other function: stays synchronous; a promise or a stream it returns is followed. */
function callOther(plan: CallPlan, thisArg: unknown, args: unknown[]): unknown {
  const handle = open(plan);
  const started = handle.start(inputOf(plan, args));
  let result: unknown;
  try {
    result = handle.run(apply, plan.fn, thisArg, args);
  } catch (error) {
    // Thrown synchronously, as `fn` did; the error event is delivered after the start event.
    track(started === undefined ? handle.fail(error) : started.then(() => handle.fail(error)));
    throw error;
  }
  if (isPromiseLike(result)) return settleLater(plan, handle, result, started);
  const stream = traceStream(plan, handle, result, started);
  if (stream !== undefined) return stream;
  track(started === undefined ? handle.end(outputOf(plan, result)) : started.then(() => handle.end(outputOf(plan, result))));
  return result;
}

async function settleLater(plan: CallPlan, handle: RunHandle<unknown, unknown>, result: PromiseLike<unknown>, started: Promise<void> | undefined): Promise<unknown> {
  if (started !== undefined) await started;
  let output: unknown;
  try {
    const signal = handle.scope.signal;
    output = signal === undefined ? await result : await raceAbort(Promise.resolve(result), signal, handle.scope);
  } catch (error) {
    const failed = handle.fail(error);
    if (failed !== undefined) await failed;
    throw error;
  }
  const stream = traceStream(plan, handle, output, undefined);
  if (stream !== undefined) return stream;
  const ended = handle.end(outputOf(plan, output));
  if (ended !== undefined) await ended;
  return output;
}

// Events a synchronous caller cannot wait for: their failures were already reported by dispatch, except a
// raiseError handler's, which has nobody left to fail.
function track(pending: Promise<void> | undefined): void {
  pending?.catch(noop);
}

function noop(): void {}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}

/**
 * A traced stream in place of `value` when it streams (a `ReadableStream` or an async iterable other than
 * a string or an array), otherwise `undefined`.
 */
function traceStream(plan: CallPlan, handle: RunHandle<unknown, unknown>, value: unknown, started: Promise<void> | undefined): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  if (typeof ReadableStream === 'function' && value instanceof ReadableStream) return tracedReadable(plan, handle, value, started);
  const factory = (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator];
  if (typeof factory !== 'function') return undefined;
  // An async generator (or any iterator that is its own iterable).
  if (typeof (value as Partial<AsyncIterator<unknown>>).next === 'function') return tracedIterator(plan, handle, value as AsyncIterator<unknown>, started);
  // An iterable with methods of its own (an SDK stream): keep the object, trace its first iteration. Its
  // iterator is asked for only when the consumer asks, as some streams can be iterated only once.
  let taken = false;
  return new Proxy(value, {
    get(object, key) {
      if (key === Symbol.asyncIterator) {
        return () => {
          if (taken) return factory.call(object);
          taken = true;
          return tracedIterator(plan, handle, handle.run(() => factory.call(object)), started);
        };
      }
      const field: unknown = Reflect.get(object, key, object);
      return typeof field === 'function' ? (field as (...args: unknown[]) => unknown).bind(object) : field;
    },
  });
}

/** Follows a stream's chunks and ends the run with them when it ends. */
class ChunkLog {
  combined: unknown = undefined;
  received = false;

  constructor(
    private readonly plan: CallPlan,
    private readonly handle: RunHandle<unknown, unknown>,
  ) {}

  /** Records a chunk; for `llm` runs a string chunk is also a token event. */
  add(chunk: unknown): Promise<void> | undefined {
    this.combined = this.received ? combineChunks(this.combined, chunk) : chunk;
    this.received = true;
    if (this.plan.target.runType === 'llm' && typeof chunk === 'string' && chunk !== '' && !this.handle.isSettled) {
      return this.plan.target.reportToken(this.handle.scope, chunk);
    }
    return undefined;
  }

  end(): Promise<void> | undefined {
    return this.handle.end(outputOf(this.plan, this.combined));
  }
}

function tracedIterator(plan: CallPlan, handle: RunHandle<unknown, unknown>, iterator: AsyncIterator<unknown>, started: Promise<void> | undefined): AsyncGenerator<unknown, unknown, unknown> {
  const log = new ChunkLog(plan, handle);
  let waitForStart = started;
  const settleStart = async (): Promise<void> => {
    const pending = waitForStart;
    waitForStart = undefined;
    if (pending !== undefined) await pending;
  };
  const fail = async (error: unknown): Promise<never> => {
    const failed = handle.fail(error);
    if (failed !== undefined) await failed;
    throw error;
  };
  const finish = async (step: IteratorResult<unknown>): Promise<IteratorResult<unknown>> => {
    const ended = log.end();
    if (ended !== undefined) await ended;
    return step;
  };
  const traced: Omit<AsyncGenerator<unknown, unknown, unknown>, typeof Symbol.asyncDispose> = {
    async next(...args: [] | [unknown]): Promise<IteratorResult<unknown>> {
      if (handle.isSettled) return iterator.next(...args);
      await settleStart();
      let step: IteratorResult<unknown>;
      try {
        const pending = handle.run(() => iterator.next(...args));
        const signal = handle.scope.signal;
        step = signal === undefined ? await pending : await raceAbort(pending, signal, handle.scope);
      } catch (error) {
        if (handle.isSettled) throw error;
        // The producer is left suspended by an abort: close it so it releases what it holds.
        closeQuietly(iterator);
        return fail(error);
      }
      if (step.done === true) return finish(step);
      try {
        const reported = log.add(step.value);
        if (reported !== undefined) await reported;
      } catch (error) {
        closeQuietly(iterator);
        return fail(error);
      }
      return step;
    },
    async return(value?: unknown): Promise<IteratorResult<unknown>> {
      if (handle.isSettled) return (await iterator.return?.(value)) ?? { done: true, value };
      await settleStart();
      // The consumer stopped early: close the producer, and end the run normally with what it got.
      let step: IteratorResult<unknown>;
      try {
        step = (await handle.run(() => iterator.return?.(value))) ?? { done: true, value };
      } catch (error) {
        return fail(error);
      }
      return finish(step);
    },
    async throw(error?: unknown): Promise<IteratorResult<unknown>> {
      if (handle.isSettled || iterator.throw === undefined) {
        if (iterator.throw !== undefined) return iterator.throw(error);
        return fail(error);
      }
      await settleStart();
      let step: IteratorResult<unknown>;
      try {
        step = await handle.run(() => (iterator.throw as (error?: unknown) => Promise<IteratorResult<unknown>>)(error));
      } catch (thrown) {
        return fail(thrown);
      }
      if (step.done === true) return finish(step);
      const reported = log.add(step.value);
      if (reported !== undefined) await reported;
      return step;
    },
    [Symbol.asyncIterator]() {
      return traced as AsyncGenerator<unknown, unknown, unknown>;
    },
  };
  // `await using` support where the runtime has it (Node 20.4 and later), as async generators do.
  if (typeof Symbol.asyncDispose === 'symbol') {
    Object.defineProperty(traced, Symbol.asyncDispose, {
      value: async (): Promise<void> => {
        await traced.return(undefined);
      },
    });
  }
  return traced as AsyncGenerator<unknown, unknown, unknown>;
}

function closeQuietly(iterator: AsyncIterator<unknown>): void {
  try {
    iterator.return?.()?.then(noop, noop);
  } catch {
    // Nobody is left to tell.
  }
}

function tracedReadable(plan: CallPlan, handle: RunHandle<unknown, unknown>, stream: ReadableStream<unknown>, started: Promise<void> | undefined): ReadableStream<unknown> {
  const reader = stream.getReader();
  const log = new ChunkLog(plan, handle);
  let waitForStart = started;
  return new ReadableStream<unknown>({
    async pull(controller) {
      if (waitForStart !== undefined) {
        const pending = waitForStart;
        waitForStart = undefined;
        await pending;
      }
      let step: Awaited<ReturnType<typeof reader.read>>;
      try {
        step = await handle.run(() => reader.read());
      } catch (error) {
        const failed = handle.fail(error);
        if (failed !== undefined) await failed;
        throw error;
      }
      if (step.done) {
        const ended = log.end();
        if (ended !== undefined) await ended;
        controller.close();
        return;
      }
      const reported = log.add(step.value);
      if (reported !== undefined) await reported;
      controller.enqueue(step.value);
    },
    async cancel(reason) {
      // The consumer stopped early: the run ends normally with what it got.
      await handle.run(() => reader.cancel(reason));
      const ended = log.end();
      if (ended !== undefined) await ended;
    },
  }, { highWaterMark: 0 });
}

// eslint-disable-next-line require-yield, @typescript-eslint/require-await
async function* failingGenerator(error: unknown): AsyncGenerator<never, never, unknown> {
  throw error;
}

/**
 * The run target of a traceable function: its events are those of the run kind it reports as. Chain runs
 * are reported exactly as `RunnableLambda`'s, `llm` runs as a chat model's, tool runs as a tool's.
 *
 * @internal
 */
class TracedRun extends Runnable<unknown, unknown> {
  constructor(
    name: string,
    readonly runType: TraceableRunType,
    private model: ReportingChatModel | undefined = undefined,
  ) {
    super(name);
  }

  /** A copy to bind a config to (the serialized form is shared). */
  copy(): TracedRun {
    const copy = new TracedRun(this.name, this.runType, this.model);
    copy.boundConfig = this.boundConfig;
    return copy;
  }

  override _invoke(): never {
    throw new ConfigError('fn', this.name, `The traceable function \`${this.name}\` is called directly, not through invoke().`, { code: 'INVALID_ARGUMENT' });
  }

  protected override get kind(): string {
    return 'traceable';
  }

  /** Called with its own arguments: the lost-callback diagnostics name `withConfig(config)` as the fix. */
  get _callStyle(): LostCallStyle {
    return 'traceable';
  }

  reportToken(scope: RunScope, token: string): Promise<void> | undefined {
    return this.chatModel().reportToken(scope, token);
  }

  override _emitStart(scope: RunScope, input: unknown): Promise<void> | undefined {
    switch (this.runType) {
      case 'chain':
        return super._emitStart(scope, input);
      case 'llm':
        return this.chatModel()._emitStart(scope, toChatInput(input));
      case 'tool':
        return this.emitIn(scope, EVENT.toolStart, 'handleToolStart', [this.serialized, stringify(input)], true);
      case 'retriever':
        return this.emitIn(scope, EVENT.retrieverStart, 'handleRetrieverStart', [this.serialized, stringify(input)], true);
    }
  }

  override _emitEnd(scope: RunScope, output: unknown): Promise<void> | undefined {
    switch (this.runType) {
      case 'chain':
        return super._emitEnd(scope, output);
      case 'llm':
        return this.chatModel()._emitEnd(scope, toAIMessage(output));
      case 'tool':
        return this.emitIn(scope, EVENT.toolEnd, 'handleToolEnd', [output], false);
      case 'retriever':
        return this.emitIn(scope, EVENT.retrieverEnd, 'handleRetrieverEnd', [toDocuments(output)], false);
    }
  }

  override _emitError(scope: RunScope, error: unknown): Promise<void> | undefined {
    switch (this.runType) {
      case 'chain':
        return super._emitError(scope, error);
      case 'llm':
        return this.chatModel()._emitError(scope, error);
      case 'tool':
        return this.emitIn(scope, EVENT.toolError, 'handleToolError', [error], false);
      case 'retriever':
        return this.emitIn(scope, EVENT.retrieverError, 'handleRetrieverError', [error], false);
    }
  }

  private chatModel(): ReportingChatModel {
    this.model ??= new ReportingChatModel(this.name, {});
    return this.model;
  }

  // Tool and retriever events: (what, runId, parentRunId, tags[, metadata, runName]) as LangChain calls them.
  private emitIn(
    scope: RunScope,
    event: (typeof EVENT)[keyof typeof EVENT],
    method: 'handleToolStart' | 'handleToolEnd' | 'handleToolError' | 'handleRetrieverStart' | 'handleRetrieverEnd' | 'handleRetrieverError',
    leading: unknown[],
    isStart: boolean,
  ): Promise<void> | undefined {
    const listeners = scope.callbacks.handlerSet.listeners(event);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    const args = isStart
      ? [...leading, runId, scope._parentRunId, scope.tags, scope.metadata, scope._runName]
      : [...leading, runId, scope._parentRunId, scope.tags];
    return emit(listeners, method, args, runId, scope._rootRunId);
  }
}

// Tool inputs and retriever queries are strings in LangChain's events.
function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function isMessage(value: unknown): value is ChatMessage {
  return value !== null && typeof value === 'object' && typeof (value as ChatMessage).role === 'string' && typeof (value as ChatMessage).content === 'string';
}

const MESSAGE_ROLES: ReadonlySet<string> = new Set(['system', 'human', 'ai', 'tool', 'user', 'assistant']);

// An `llm` function's input as chat messages: a string is one human turn; messages (or `{ messages }`, as
// provider SDKs take them) are kept; anything else is one human turn of its JSON.
function toChatInput(input: unknown): string | readonly ChatMessage[] {
  if (typeof input === 'string') return input;
  const messages = Array.isArray(input) ? (input as unknown[]) : isRecordWithMessages(input) ? input.messages : undefined;
  if (messages !== undefined && messages.length > 0 && messages.every((message) => isMessage(message) && MESSAGE_ROLES.has(message.role))) {
    return messages as ChatMessage[];
  }
  return stringify(input);
}

function isRecordWithMessages(value: unknown): value is { messages: unknown[] } {
  return value !== null && typeof value === 'object' && Array.isArray((value as { messages?: unknown }).messages);
}

function toAIMessage(output: unknown): AIChatMessage {
  if (typeof output === 'string') return reportedMessage(output);
  if (isMessage(output)) return reportedMessage(output.content);
  return reportedMessage(output === undefined ? '' : stringify(output));
}

// LangChain hands retriever handlers documents: strings become `{ pageContent, metadata: {} }`.
function toDocuments(output: unknown): RetrievedDocument[] {
  const items = Array.isArray(output) ? (output as unknown[]) : output === undefined ? [] : [output];
  return items.map((item) => {
    if (item !== null && typeof item === 'object' && typeof (item as RetrievedDocument).pageContent === 'string') {
      const document = item as RetrievedDocument;
      return isPlainRecord(document.metadata) ? document : { ...document, metadata: {} };
    }
    return { pageContent: stringify(item), metadata: {} };
  });
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
