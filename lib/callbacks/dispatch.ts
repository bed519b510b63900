import { HandlerTimeoutError } from '../errors';
import { currentBackend, getConfiguration, type HandlerErrorReport } from '../settings';
import {
  backgroundIdle,
  callHandler,
  callSerial,
  enqueueBackground,
  handlerName,
  onBackgroundFailure,
  waitForRoom,
  type CallOutcome,
} from './delivery';
import type { CallbackHandler, HandlerMethodName } from './handler';

import type { LangChainTracer } from './handler-set';

export { EVENT, HandlerSet, NO_HANDLERS, type EventId } from './handler-set';

/** The hooks a LangChain.js tracer creates its runs with, one per kind of start event. */
export type TracerHook = '_createRunForChainStart' | '_createRunForToolStart' | '_createRunForChatModelStart' | '_createRunForLLMStart';

/** One tracer hook's call, handed to the context backend's `outside` as its one argument. */
interface TracerHookCall {
  readonly tracer: LangChainTracer;
  readonly hook: TracerHook;
  readonly args: unknown[];
}

function callTracerHook(call: TracerHookCall): void {
  call.tracer[call.hook]?.(...call.args);
}

/**
 * Creates the run of a start event in each LangChain.js tracer, synchronously and before any
 * `handle*Start` call, as LangChain's CallbackManager does: tracers then find the run in `handle*Start` and
 * do not build it again, and they get what LangChain gives only this hook (the raw tool input object, for
 * instance). A hook that throws is reported like a failing handler call.
 */
export function createTracerRuns(tracers: readonly LangChainTracer[], hook: TracerHook, args: unknown[], runId: string | undefined): void {
  for (const tracer of tracers) {
    if (typeof tracer[hook] !== 'function') continue;
    try {
      currentBackend().outside(callTracerHook, { tracer, hook, args });
    } catch (error) {
      reportHandlerError(tracer, hookEvent(hook), runId, error);
    }
  }
}

function hookEvent(hook: TracerHook): HandlerMethodName {
  switch (hook) {
    case '_createRunForChainStart':
      return 'handleChainStart';
    case '_createRunForToolStart':
      return 'handleToolStart';
    case '_createRunForChatModelStart':
      return 'handleChatModelStart';
    case '_createRunForLLMStart':
      return 'handleLLMStart';
  }
}

/**
 * Delivers one event to `listeners`, in registration order, outside any run's context (a runnable invoked
 * from a handler starts a root run of its own and never feeds events back into this one).
 *
 * - Blocking handlers are called right away; when one returns a promise, the next is called after it
 *   settles (or after its time limit), and the returned promise settles when all have. With only
 *   synchronous handlers nothing is returned, so the run does not even wait a microtask.
 * - Serial handlers with a call in flight wait for their turn in their own queue.
 * - Background handlers get the event in their own queue; the run waits only if the queues are full.
 * - Every listener gets the event, whatever the others do. A failing handler is reported (see
 *   `configure({ onHandlerError })`), unless it has `raiseError`: then, once all have been called, the first
 *   such error is thrown (or the returned promise rejects with it).
 *
 * @param rootRunId - the root of the run tree, for `flushCallbacks`.
 * @param fallbackArgs - for `handleChatModelStart`: the `handleLLMStart` arguments for handlers that only
 *   define `handleLLMStart`.
 */
export function emit(
  listeners: readonly CallbackHandler[],
  method: HandlerMethodName,
  args: unknown[],
  runId: string | undefined,
  rootRunId: string | undefined,
  fallbackArgs?: unknown[],
): Promise<void> | undefined {
  const pending = currentBackend().outside(emitAll, { listeners, method, args, runId, rootRunId, fallbackArgs });
  if (pending !== undefined) track(pending);
  return pending;
}

/** One event for {@link emit}, handed to the context backend's `outside` as its one argument. */
interface Emission {
  readonly listeners: readonly CallbackHandler[];
  readonly method: HandlerMethodName;
  readonly args: unknown[];
  readonly runId: string | undefined;
  readonly rootRunId: string | undefined;
  readonly fallbackArgs: unknown[] | undefined;
}

function emitAll(emission: Emission): Promise<void> | undefined {
  return emitFrom(emission.listeners, 0, emission.method, emission.args, emission.runId, emission.rootRunId, emission.fallbackArgs, undefined);
}

interface Raised {
  readonly error: unknown;
}

function emitFrom(
  listeners: readonly CallbackHandler[],
  start: number,
  method: HandlerMethodName,
  args: unknown[],
  runId: string | undefined,
  rootRunId: string | undefined,
  fallbackArgs: unknown[] | undefined,
  raised: Raised | undefined,
): Promise<void> | undefined {
  let queuedInBackground = false;
  for (let i = start; i < listeners.length; i++) {
    const handler = listeners[i] as CallbackHandler;
    let called = method;
    let callArgs = args;
    if (fallbackArgs !== undefined && typeof handler[method] !== 'function') {
      called = 'handleLLMStart';
      callArgs = fallbackArgs;
    }
    if (isBackground(handler)) {
      enqueueBackground({ handler, method: called, args: callArgs, runId, rootRunId, settle: undefined });
      queuedInBackground = true;
      continue;
    }
    const outcome = handler.serial === true ? callSerial(handler, called, callArgs, runId, rootRunId) : callHandler(handler, called, callArgs);
    if (outcome instanceof Promise) {
      return continueAfter(outcome, listeners, i, method, called, args, runId, rootRunId, fallbackArgs, raised);
    }
    if (outcome !== undefined) raised = absorb(handler, called, runId, outcome.error, raised);
  }
  if (queuedInBackground) {
    const room = waitForRoom(rootRunId);
    if (room !== undefined) return room.then(() => throwIfRaised(raised));
  }
  throwIfRaised(raised);
  return undefined;
}

async function continueAfter(
  pending: Promise<CallOutcome>,
  listeners: readonly CallbackHandler[],
  index: number,
  method: HandlerMethodName,
  called: HandlerMethodName,
  args: unknown[],
  runId: string | undefined,
  rootRunId: string | undefined,
  fallbackArgs: unknown[] | undefined,
  raised: Raised | undefined,
): Promise<void> {
  const outcome = await pending;
  if (outcome !== undefined) raised = absorb(listeners[index] as CallbackHandler, called, runId, outcome.error, raised);
  const rest = emitFrom(listeners, index + 1, method, args, runId, rootRunId, fallbackArgs, raised);
  if (rest !== undefined) await rest;
}

function throwIfRaised(raised: Raised | undefined): void {
  if (raised !== undefined) throw raised.error;
}

// A raiseError handler's failure is kept to fail the run once every listener has had the event; any other
// failure is reported and forgotten.
function absorb(handler: CallbackHandler, event: HandlerMethodName, runId: string | undefined, error: unknown, raised: Raised | undefined): Raised | undefined {
  if (handler.raiseError === true) return raised ?? { error };
  reportHandlerError(handler, event, runId, error);
  return raised;
}

// LangChain.js handlers carry LangChain's default for awaitHandlers (false unless
// LANGCHAIN_CALLBACKS_BACKGROUND=false): not a choice their authors made, so callscope's setting decides.
function isLangChainHandler(handler: CallbackHandler): boolean {
  return 'lc_kwargs' in handler;
}

function isBackground(handler: CallbackHandler): boolean {
  if (handler.raiseError === true) return false;
  const own = handler.awaitHandlers;
  if (own !== undefined && !isLangChainHandler(handler)) return !own;
  return getConfiguration().callbacks === 'background';
}

// Blocking handler calls still settling, so awaitAllCallbacks() can wait for calls no run awaits (a child
// started without being awaited by its parent, for example).
const inFlight = new Set<Promise<void>>();

/** @internal Counts a blocking handler call made without {@link emit} in, until it settles. */
export function track(pending: Promise<void>): void {
  inFlight.add(pending);
  const done = (): void => {
    inFlight.delete(pending);
  };
  pending.then(done, done);
}

/**
 * Waits until every handler call started so far, blocking or in the background, and any started while
 * waiting, has settled.
 *
 * @returns a promise that resolves (never rejects) when no handler call is pending.
 */
export async function settleAllHandlerCalls(): Promise<void> {
  for (;;) {
    if (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    await backgroundIdle();
    if (inFlight.size === 0) return;
  }
}

// Warnings already printed, per handler class (or, for plain objects, handler name) and event name: a handler
// failing on every token, or a fresh instance per request failing on every request, warns once.
const warnedClasses = new WeakMap<object, Set<string>>();
const warnedNames = new Map<string, Set<string>>();
// Plain-object handlers named per request must not grow the map without bound.
const MAX_WARNED_NAMES = 1_000;

/**
 * Reports a failed handler call to `configure({ onHandlerError })`, or prints one `console.warn` per
 * handler class and event name. Never throws, whatever the handler threw (an object without a prototype, a
 * revoked Proxy, a `toString` that throws): a report must not fail a run or stop a queue.
 */
export function reportHandlerError(
  handler: CallbackHandler,
  event: HandlerMethodName,
  runId: string | undefined,
  error: unknown,
): void {
  try {
    const name = handlerName(handler);
    const { onHandlerError } = getConfiguration();
    if (onHandlerError !== undefined) {
      const report: HandlerErrorReport = { handler, handlerName: name, event, runId, error };
      try {
        onHandlerError(report);
      } catch (reporterError) {
        console.warn('[callscope] onHandlerError threw while reporting a handler error:', reporterError);
      }
      return;
    }
    if (!firstWarning(handler, name, event)) return;
    const timedOut = isTimeout(error);
    const detail = timedOut ? (error as HandlerTimeoutError).message : describeThrown(error);
    console.warn(
      `[callscope] Handler \`${name}\` ${timedOut ? 'timed out' : 'threw'} in ${event} (run ${runId ?? 'unknown'}): ${withoutFullStop(detail)}. ` +
        'The run continued without it; set `raiseError: true` on the handler to fail the run instead. ' +
        'Further failures of this handler class in this event are not printed.',
    );
  } catch {
    // Even console.warn can throw (a stream closed under it); a report is never worth a failed run.
  }
}

function firstWarning(handler: CallbackHandler, name: string, event: HandlerMethodName): boolean {
  const ctor = (handler as { constructor?: unknown }).constructor;
  let events: Set<string> | undefined;
  if (typeof ctor === 'function' && ctor !== Object) {
    events = warnedClasses.get(ctor);
    if (events === undefined) warnedClasses.set(ctor, (events = new Set()));
  } else {
    events = warnedNames.get(name);
    if (events === undefined) {
      if (warnedNames.size >= MAX_WARNED_NAMES) warnedNames.clear();
      warnedNames.set(name, (events = new Set()));
    }
  }
  if (events.has(event)) return false;
  events.add(event);
  return true;
}

/** A one-line description of anything a handler may throw; never throws. */
function describeThrown(error: unknown): string {
  try {
    if (error instanceof Error) return `${String(error.name)}: ${String(error.message)}`;
    return String(error);
  } catch {
    try {
      return `an unprintable ${error === null ? 'null' : typeof error} value (${Object.prototype.toString.call(error)})`;
    } catch {
      return `an unprintable ${typeof error} value`;
    }
  }
}

function isTimeout(error: unknown): boolean {
  try {
    return error instanceof HandlerTimeoutError;
  } catch {
    return false; // `instanceof` throws on a revoked Proxy
  }
}

function withoutFullStop(text: string): string {
  return text.endsWith('.') ? text.slice(0, -1) : text;
}

onBackgroundFailure((delivery, error) => reportHandlerError(delivery.handler, delivery.method, delivery.runId, error));
