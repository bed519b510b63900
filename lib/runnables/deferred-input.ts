import { createTracerRuns, EVENT, emit } from '../callbacks/dispatch';
import type { ChainEndFields } from '../callbacks/handler';
import { combineChunks } from './combine';
import type { RunScope } from './config';
import { streamRun, type RunTarget } from './run';

// LangChain marks a chain start whose inputs come at its end.
const DEFERS_INPUTS = Object.freeze({ lc_defers_inputs: true });

// The deferred input of each transform run, from its start event to its end event.
const deferredInputs = new WeakMap<RunScope, DeferredInput<unknown>>();

/**
 * The input stream of a transform run (a step of a streamed sequence): its first chunk is read before the
 * run starts, and every chunk read is combined, so the run's end can report the whole input, as LangChain's
 * transform steps do (`lc_defers_inputs`).
 */
export class DeferredInput<T> implements AsyncIterable<T> {
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

  /** The end event's fifth argument: `{ inputs }`, the combined input as LangChain's `_coerceToDict(input, 'input')`. */
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

/**
 * Runs `target` as a transform step of a streamed sequence, as LangChain does: the run starts once the first
 * input chunk has arrived (so after the steps that feed it), reports `{ input: '' }` then, and its combined
 * input at its end. `target` routes its emit methods through {@link emitDeferredStart} and its siblings.
 */
export async function* transformOnFirstChunk<TInput, TOutput>(
  target: RunTarget<TInput, TOutput>,
  inputs: AsyncIterable<TInput>,
  scope: RunScope,
  produce: (inputs: DeferredInput<TInput>, runScope: RunScope) => AsyncIterator<TOutput>,
): AsyncGenerator<TOutput, void, undefined> {
  const deferred = new DeferredInput<TInput>(inputs[Symbol.asyncIterator]());
  await deferred.prefetch();
  yield* streamRun(target, scope, scope, deferred as unknown as TInput, (runScope) => produce(deferred, runScope));
}

/** The start event of a transform run: `{ input: '' }` and LangChain's `{ lc_defers_inputs: true }`. */
export function emitDeferredStart(target: { readonly serialized: unknown }, scope: RunScope, deferred: DeferredInput<unknown>): Promise<void> | undefined {
  deferredInputs.set(scope, deferred);
  const listeners = scope.callbacks.handlerSet.listeners(EVENT.chainStart);
  if (listeners.length === 0) return undefined;
  const runId = scope.callbacks.parentRunId;
  const args = [target.serialized, { input: '' }, runId, scope._parentRunId, scope.tags, scope.metadata, undefined, scope._runName, DEFERS_INPUTS];
  const tracers = scope.callbacks.handlerSet.tracers(EVENT.chainStart);
  if (tracers.length > 0) createTracerRuns(tracers, '_createRunForChainStart', args, runId);
  return emit(listeners, 'handleChainStart', args, runId, scope._rootRunId);
}

/**
 * The end event of a transform run, with its combined output as is (LangChain passes it uncoerced) and
 * `{ inputs }`. Returns `null` when `scope` is not a transform run's, for the caller's usual end event.
 */
export function emitDeferredEnd(scope: RunScope, output: unknown): Promise<void> | undefined | null {
  const deferred = deferredInputs.get(scope);
  if (deferred === undefined) return null;
  const listeners = scope.callbacks.handlerSet.listeners(EVENT.chainEnd);
  if (listeners.length === 0) return undefined;
  const runId = scope.callbacks.parentRunId;
  return emit(listeners, 'handleChainEnd', [output ?? {}, runId, scope._parentRunId, scope.tags, deferred.fields()], runId, scope._rootRunId);
}

/** The error event of a transform run, with `{ inputs }`; `null` when `scope` is not a transform run's. */
export function emitDeferredError(scope: RunScope, error: unknown): Promise<void> | undefined | null {
  const deferred = deferredInputs.get(scope);
  if (deferred === undefined) return null;
  const listeners = scope.callbacks.handlerSet.listeners(EVENT.chainError);
  if (listeners.length === 0) return undefined;
  const runId = scope.callbacks.parentRunId;
  return emit(listeners, 'handleChainError', [error, runId, scope._parentRunId, scope.tags, deferred.fields()], runId, scope._rootRunId);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
