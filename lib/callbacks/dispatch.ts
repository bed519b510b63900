import { currentBackend, getConfiguration, type HandlerErrorReport } from '../settings';
import {
  backgroundIdle,
  callHandler,
  enqueueBackground,
  handlerName,
  laneOf,
  onBackgroundFailure,
  waitForRoom,
  type CallOutcome,
  type Delivery,
} from './delivery';
import type { CallbackHandler, HandlerMethodName } from './handler';

import type { LangChainTracer } from './handler-set';

export { EVENT, HandlerSet, NO_HANDLERS, type EventId } from './handler-set';

/** The hooks a LangChain.js tracer creates its runs with, one per kind of start event. */
export type TracerHook = '_createRunForChainStart' | '_createRunForToolStart' | '_createRunForChatModelStart' | '_createRunForLLMStart';

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
      currentBackend().with(undefined, () => tracer[hook]?.(...args));
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
  const pending = currentBackend().with(undefined, emitFrom, listeners, 0, method, args, runId, rootRunId, fallbackArgs, undefined);
  if (pending !== undefined) track(pending);
  return pending;
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
    let outcome: CallOutcome | Promise<CallOutcome>;
    if (handler.serial === true) {
      const lane = laneOf(handler);
      if (lane.active) {
        // Another call of this handler is in flight: wait for our turn, in order.
        outcome = new Promise<CallOutcome>((settle) =>
          lane.enqueue({ handler, method: called, args: callArgs, runId, rootRunId, settle } satisfies Delivery),
        );
      } else {
        outcome = callHandler(handler, called, callArgs);
        if (outcome instanceof Promise) lane.occupy(outcome);
      }
    } else {
      outcome = callHandler(handler, called, callArgs);
    }
    if (outcome instanceof Promise) {
      return continueAfter(outcome, listeners, i, method, called, args, runId, rootRunId, fallbackArgs, raised);
    }
    if (outcome !== undefined) raised = absorb(handler, called, runId, outcome.error, raised);
  }
  if (queuedInBackground) {
    const room = waitForRoom();
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

function track(pending: Promise<void>): void {
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

// Handlers already warned about, per event name, so a handler failing on every token warns once.
const warned = new WeakMap<object, Set<string>>();

/**
 * Reports a failed handler call to `configure({ onHandlerError })`, or prints one `console.warn` per
 * handler and event name.
 */
export function reportHandlerError(
  handler: CallbackHandler,
  event: HandlerMethodName,
  runId: string | undefined,
  error: unknown,
): void {
  const name = handlerName(handler);
  const report: HandlerErrorReport = { handler, handlerName: name, event, runId, error };
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
    `[callscope] Handler \`${name}\` threw in ${event} (run ${runId ?? 'unknown'}): ${detail}. ` +
      'The run continued without it; set `raiseError: true` on the handler to fail the run instead. ' +
      'Further failures of this handler in this event are not printed.',
  );
}

onBackgroundFailure((delivery, error) => reportHandlerError(delivery.handler, delivery.method, delivery.runId, error));
