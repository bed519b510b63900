import { currentBackend, getConfiguration, type HandlerErrorReport } from '../settings';
import type { CallbackHandler, CallbackHandlerOptions, HandlerMethodName } from './handler';

/**
 * The events a run can emit, as indices into a {@link HandlerSet}'s listener lists. A handler listens to
 * an event when it defines the event's method and its `ignore*` switch for the event's family is off.
 */
export const EVENT = {
  chainStart: 0,
  chainEnd: 1,
  chainError: 2,
  chatModelStart: 3,
  llmNewToken: 4,
  llmEnd: 5,
  llmError: 6,
  toolStart: 7,
  toolEnd: 8,
  toolError: 9,
  customEvent: 10,
} as const;

/** One of the {@link EVENT} indices. */
export type EventId = (typeof EVENT)[keyof typeof EVENT];

const METHOD: readonly HandlerMethodName[] = [
  'handleChainStart',
  'handleChainEnd',
  'handleChainError',
  'handleChatModelStart',
  'handleLLMNewToken',
  'handleLLMEnd',
  'handleLLMError',
  'handleToolStart',
  'handleToolEnd',
  'handleToolError',
  'handleCustomEvent',
];

// Tool events are gated by `ignoreAgent`, as in LangChain.
const GATE: readonly (keyof CallbackHandlerOptions)[] = [
  'ignoreChain',
  'ignoreChain',
  'ignoreChain',
  'ignoreLLM',
  'ignoreLLM',
  'ignoreLLM',
  'ignoreLLM',
  'ignoreAgent',
  'ignoreAgent',
  'ignoreAgent',
  'ignoreCustomEvent',
];

const EVENT_COUNT = METHOD.length;

/**
 * An immutable list of handlers with, per event, the sublist that listens to it. The sublists are worked
 * out once per set and event, on first use, so emitting an event nobody listens to costs one array read.
 * Runs that inherit the same handlers share one set.
 */
export class HandlerSet {
  /** The handlers, in registration order, without duplicates. */
  readonly handlers: readonly CallbackHandler[];
  private readonly lists: (readonly CallbackHandler[] | undefined)[];

  constructor(handlers: readonly CallbackHandler[]) {
    this.handlers = handlers;
    this.lists = new Array<readonly CallbackHandler[] | undefined>(EVENT_COUNT).fill(undefined);
  }

  /** The handlers that listen to `event`, in registration order. */
  listeners(event: EventId): readonly CallbackHandler[] {
    return this.lists[event] ?? this.computeListeners(event);
  }

  /**
   * The set of `handlers` (duplicates dropped). Sets are shared: a list of handlers seen before gets the same
   * set back, listener lists already worked out, so a caller passing `{ callbacks: [tracer] }` on every call
   * does not pay for working them out again.
   */
  static of(handlers: readonly CallbackHandler[]): HandlerSet {
    const first = handlers[0];
    if (first === undefined) return NO_HANDLERS;
    const candidates = recentSets.get(first);
    if (candidates !== undefined) {
      for (const candidate of candidates) if (sameHandlers(candidate.handlers, handlers)) return candidate;
    }
    const unique = handlers.length === 1 || new Set(handlers).size === handlers.length ? handlers.slice() : [...new Set(handlers)];
    if (unique.length !== handlers.length) return HandlerSet.of(unique);
    const set = new HandlerSet(Object.freeze(unique));
    if (candidates === undefined) recentSets.set(first, [set]);
    else {
      candidates.unshift(set);
      if (candidates.length > RECENT_SETS_PER_HANDLER) candidates.pop();
    }
    return set;
  }

  /** This set plus `more` (duplicates by identity dropped); `this` when nothing is new. */
  union(more: readonly CallbackHandler[] | HandlerSet): HandlerSet {
    const extra = more instanceof HandlerSet ? more.handlers : more;
    if (extra.length === 0) return this;
    if (this.handlers.length === 0) return more instanceof HandlerSet ? more : HandlerSet.of(more);
    let merged: CallbackHandler[] | undefined;
    for (const handler of extra) {
      if (this.handlers.includes(handler) || merged?.includes(handler)) continue;
      (merged ??= [...this.handlers]).push(handler);
    }
    return merged ? HandlerSet.of(merged) : this;
  }

  private computeListeners(event: EventId): readonly CallbackHandler[] {
    const method = METHOD[event] as HandlerMethodName;
    const gate = GATE[event] as keyof CallbackHandlerOptions;
    const list = this.handlers.filter((handler) => {
      if (handler[gate] === true) return false;
      if (typeof handler[method] === 'function') return true;
      // Chat model runs fall back to handleLLMStart for handlers without handleChatModelStart.
      return event === EVENT.chatModelStart && typeof handler.handleLLMStart === 'function';
    });
    this.lists[event] = list;
    return list;
  }
}

/** The set with no handlers, shared by every run that has none. */
export const NO_HANDLERS = new HandlerSet([]);

// Recently built sets, keyed by their first handler (weakly: a handler that is gone takes its sets along).
const RECENT_SETS_PER_HANDLER = 8;
const recentSets = new WeakMap<CallbackHandler, HandlerSet[]>();

function sameHandlers(a: readonly CallbackHandler[], b: readonly CallbackHandler[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Calls `method` on each handler of `listeners` with `args`, in order, outside any run's context (a runnable
 * invoked from a handler starts a root run of its own and never feeds events back into this one).
 *
 * Synchronous handlers are called right away; when one returns a promise, the remaining handlers are called
 * after it settles, and the returned promise settles when all have. Returns `undefined` when no handler
 * returned a promise, so a run with only synchronous handlers never waits for a microtask.
 *
 * A handler that throws or rejects is reported (see `configure({ onHandlerError })`) and skipped, unless
 * it has `raiseError`, in which case its error is thrown (or the returned promise rejects with it).
 *
 * @param fallbackArgs - for `handleChatModelStart`: the `handleLLMStart` arguments used for handlers that
 *   only define `handleLLMStart`.
 */
export function emit(
  listeners: readonly CallbackHandler[],
  method: HandlerMethodName,
  args: unknown[],
  runId: string | undefined,
  fallbackArgs?: unknown[],
): Promise<void> | undefined {
  const pending = currentBackend().with(undefined, emitFrom, listeners, 0, method, args, runId, fallbackArgs);
  if (pending !== undefined) track(pending);
  return pending;
}

// Handler calls still settling, so awaitAllCallbacks() can wait for calls no run awaits (a child started
// without being awaited by its parent, for example).
const inFlight = new Set<Promise<void>>();

function track(pending: Promise<void>): void {
  inFlight.add(pending);
  const done = (): void => {
    inFlight.delete(pending);
  };
  pending.then(done, done);
}

/**
 * Waits until every handler call started so far, and any started while waiting, has settled.
 *
 * @returns a promise that resolves (never rejects) when no handler call is pending.
 */
export async function settleAllHandlerCalls(): Promise<void> {
  while (inFlight.size > 0) {
    await Promise.allSettled([...inFlight]);
  }
}

function emitFrom(
  listeners: readonly CallbackHandler[],
  start: number,
  method: HandlerMethodName,
  args: unknown[],
  runId: string | undefined,
  fallbackArgs: unknown[] | undefined,
): Promise<void> | undefined {
  for (let i = start; i < listeners.length; i++) {
    const handler = listeners[i] as CallbackHandler;
    let called: HandlerMethodName = method;
    let result: unknown;
    try {
      // Methods are read off the handler and called with it as `this` below (`apply(handler, ...)`).
      // eslint-disable-next-line @typescript-eslint/unbound-method
      let fn = handler[method] as ((...a: unknown[]) => unknown) | undefined;
      let callArgs = args;
      if (fn === undefined && fallbackArgs !== undefined) {
        called = 'handleLLMStart';
        // eslint-disable-next-line @typescript-eslint/unbound-method
        fn = handler.handleLLMStart as (...a: unknown[]) => unknown;
        callArgs = fallbackArgs;
      }
      result = (fn as (...a: unknown[]) => unknown).apply(handler, callArgs);
    } catch (error) {
      reportHandlerError(handler, called, runId, error);
      continue;
    }
    if (isPromiseLike(result)) {
      return settleThenContinue(result, listeners, i, method, called, args, runId, fallbackArgs);
    }
  }
  return undefined;
}

async function settleThenContinue(
  pending: PromiseLike<unknown>,
  listeners: readonly CallbackHandler[],
  index: number,
  method: HandlerMethodName,
  called: HandlerMethodName,
  args: unknown[],
  runId: string | undefined,
  fallbackArgs: unknown[] | undefined,
): Promise<void> {
  try {
    await pending;
  } catch (error) {
    reportHandlerError(listeners[index] as CallbackHandler, called, runId, error);
  }
  const rest = emitFrom(listeners, index + 1, method, args, runId, fallbackArgs);
  if (rest !== undefined) await rest;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

// Handlers already warned about, per event name, so a handler failing on every token warns once.
const warned = new WeakMap<object, Set<string>>();

/**
 * Reports a failed handler call: rethrows for `raiseError` handlers, otherwise hands a report to
 * `configure({ onHandlerError })` or prints one `console.warn` per handler and event name.
 */
export function reportHandlerError(
  handler: CallbackHandler,
  event: HandlerMethodName,
  runId: string | undefined,
  error: unknown,
): void {
  if (handler.raiseError === true) throw error;
  const handlerName = nameOf(handler);
  const report: HandlerErrorReport = { handler, handlerName, event, runId, error };
  const { onHandlerError } = getConfiguration();
  if (onHandlerError !== undefined) {
    try {
      onHandlerError(report);
    } catch (reporterError) {
      console.warn('[callscope] onHandlerError threw while reporting a handler error:', reporterError);
    }
    return;
  }
  let events = warned.get(handler);
  if (events === undefined) warned.set(handler, (events = new Set()));
  if (events.has(event)) return;
  events.add(event);
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.warn(
    `[callscope] Handler \`${handlerName}\` threw in ${event} (run ${runId ?? 'unknown'}): ${detail}. ` +
      'The run continued without it; set `raiseError: true` on the handler to fail the run instead. ' +
      'Further failures of this handler in this event are not printed.',
  );
}

function nameOf(handler: CallbackHandler): string {
  if (typeof handler.name === 'string' && handler.name) return handler.name;
  const ctor = (handler as { constructor?: { name?: string } }).constructor;
  return ctor?.name && ctor.name !== 'Object' ? ctor.name : 'anonymous handler';
}
