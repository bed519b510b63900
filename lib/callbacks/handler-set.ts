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
  llmStart: 11,
  wrapRunBody: 12,
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
  'handleLLMStart',
  'wrapRunBody',
];

// Tool events are gated by `ignoreAgent`, as in LangChain.
const GATE: readonly (keyof CallbackHandlerOptions | undefined)[] = [
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
  'ignoreLLM',
  // Wrapping a run's body is not an event a handler can ignore.
  undefined,
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
  private tracerLists: (readonly LangChainTracer[] | undefined)[] | undefined;

  constructor(handlers: readonly CallbackHandler[]) {
    this.handlers = handlers;
    this.lists = new Array<readonly CallbackHandler[] | undefined>(EVENT_COUNT).fill(undefined);
    this.tracerLists = undefined;
  }

  /** The handlers that listen to `event`, in registration order. */
  listeners(event: EventId): readonly CallbackHandler[] {
    return this.lists[event] ?? this.computeListeners(event);
  }

  /**
   * The listeners of a start event that are LangChain.js tracers (they keep a run map, `_addRunToRunMap`, as
   * LangChain's `isBaseTracer` checks): LangChain creates their run through `_createRunFor*` before the
   * `handle*Start` call, so callscope does too. Worked out once per set and event, like the listeners.
   */
  tracers(event: EventId): readonly LangChainTracer[] {
    const lists = (this.tracerLists ??= new Array<readonly LangChainTracer[] | undefined>(EVENT_COUNT).fill(undefined));
    return (lists[event] ??= this.listeners(event).filter(isLangChainTracer) as LangChainTracer[]);
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
    const gate = GATE[event];
    const list = this.handlers.filter((handler) => {
      if (gate !== undefined && handler[gate] === true) return false;
      if (typeof handler[method] === 'function') return true;
      // Chat model runs fall back to handleLLMStart for handlers without handleChatModelStart.
      return event === EVENT.chatModelStart && typeof handler.handleLLMStart === 'function';
    });
    this.lists[event] = list;
    return list;
  }
}

/** A LangChain.js tracer, as far as callscope calls it: the `_createRunFor*` hooks of `BaseTracer`. */
export interface LangChainTracer extends CallbackHandler {
  _addRunToRunMap(run: unknown): unknown;
  _createRunForChainStart?(...args: unknown[]): unknown;
  _createRunForToolStart?(...args: unknown[]): unknown;
  _createRunForChatModelStart?(...args: unknown[]): unknown;
  _createRunForLLMStart?(...args: unknown[]): unknown;
}

function isLangChainTracer(handler: CallbackHandler): boolean {
  return typeof (handler as Partial<LangChainTracer>)._addRunToRunMap === 'function';
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

