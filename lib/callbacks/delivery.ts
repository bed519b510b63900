import { HandlerTimeoutError } from '../errors';
import { clearLongTimeout, setLongTimeout, type LongTimeout } from '../internal/timers';
import { getConfiguration, onShutdownSignalsChange, type ShutdownSignal } from '../settings';
import type { CallbackHandler, HandlerMethodName } from './handler';

/**
 * How one handler call ends: `undefined` when it succeeded, or what it threw, rejected with, or the
 * {@link HandlerTimeoutError} it was abandoned with.
 */
export type CallOutcome = undefined | { readonly error: unknown };

/** One event for one handler. */
export interface Delivery {
  readonly handler: CallbackHandler;
  readonly method: HandlerMethodName;
  readonly args: unknown[];
  readonly runId: string | undefined;
  /** The root of the run tree the event belongs to, for `flushCallbacks`. */
  readonly rootRunId: string | undefined;
  /** Set for blocking deliveries that had to queue (serial handlers): told how the call ended. */
  readonly settle: ((outcome: CallOutcome) => void) | undefined;
}

/**
 * The time limit of a call a run waits for (blocking delivery) when neither the handler nor `configure`
 * sets one: a handler that never settles must not hang the run.
 */
export const DEFAULT_BLOCKING_HANDLER_TIMEOUT_MS = 30_000;

/**
 * The time limit of one call of `handler`, or `undefined` for none: the handler's own `handlerTimeoutMs`,
 * else `configure({ handlerTimeoutMs })`, else {@link DEFAULT_BLOCKING_HANDLER_TIMEOUT_MS} for blocking calls
 * and none for background ones. `Infinity` means no limit.
 */
function limitOf(handler: CallbackHandler, blocking: boolean): number | undefined {
  const limit = handler.handlerTimeoutMs ?? getConfiguration().handlerTimeoutMs ?? (blocking ? DEFAULT_BLOCKING_HANDLER_TIMEOUT_MS : undefined);
  return limit === Number.POSITIVE_INFINITY ? undefined : limit;
}

/**
 * Starts one handler method call. Returns `undefined` when the method is synchronous and returned, the
 * outcome when it threw, or the promise it returned. A method that is not (or no longer) a function is
 * treated as not listening: nothing is called and nothing is reported.
 */
/**
 * `handler[method]`, read at the call (a method replaced since, by `jest.spyOn` for instance, is the one
 * called), by name: `handler[method]` with `method` a variable is a megamorphic keyed load (handlers of many
 * classes, fifteen names), about 180 instructions on Node 24; a named load per event kind is cached per
 * handler class.
 */
function methodOf(handler: CallbackHandler, method: HandlerMethodName): unknown {
  /* eslint-disable @typescript-eslint/unbound-method -- applied to the handler by the caller */
  switch (method) {
    case 'handleLLMNewToken':
      return handler.handleLLMNewToken;
    case 'handleChainStart':
      return handler.handleChainStart;
    case 'handleChainEnd':
      return handler.handleChainEnd;
    case 'handleChatModelStart':
      return handler.handleChatModelStart;
    case 'handleLLMEnd':
      return handler.handleLLMEnd;
    case 'handleToolStart':
      return handler.handleToolStart;
    case 'handleToolEnd':
      return handler.handleToolEnd;
    default:
      return handler[method];
  }
  /* eslint-enable @typescript-eslint/unbound-method */
}

function startCall(handler: CallbackHandler, method: HandlerMethodName, args: unknown[]): CallOutcome | PromiseLike<unknown> {
  try {
    // Read once and called with the handler as `this`, as LangChain calls handler methods.
    const fn = methodOf(handler, method);
    if (typeof fn !== 'function') return undefined;
    const result: unknown = (fn as (...a: unknown[]) => unknown).apply(handler, args);
    return isPromiseLike(result) ? result : undefined;
  } catch (error) {
    return { error };
  }
}

/** The outcome of a call's promise, as a promise that never rejects (whatever the thenable does). */
function settlementOf(result: PromiseLike<unknown>): Promise<CallOutcome> {
  return new Promise<CallOutcome>((resolve) => {
    try {
      result.then(
        () => resolve(undefined),
        (error: unknown) => resolve({ error }),
      );
    } catch (error) {
      resolve({ error });
    }
  });
}

function isCallOutcome(started: CallOutcome | PromiseLike<unknown>): started is CallOutcome {
  return started === undefined || !isPromiseLike(started);
}

/**
 * Calls one handler method. Returns the outcome right away for a synchronous method, or a promise of it
 * (which never rejects) for an asynchronous one, abandoned after the handler's time limit.
 *
 * @param lane - the background lane making the call, so `beforeExit` can abandon a call stuck for good.
 */
export function callHandler(
  handler: CallbackHandler,
  method: HandlerMethodName,
  args: unknown[],
  lane?: Lane,
): CallOutcome | Promise<CallOutcome> {
  const started = startCall(handler, method, args);
  if (isCallOutcome(started)) return started;
  const limit = limitOf(handler, lane === undefined);
  return new Promise<CallOutcome>((resolve) => {
    let timer: LongTimeout | undefined;
    let settled = false;
    const inFlight = { method, abandon: () => finish({ error: stuckError(handler, method) }) };
    function finish(outcome: CallOutcome): void {
      if (settled) return;
      settled = true;
      clearLongTimeout(timer);
      if (lane !== undefined && lane.current === inFlight) lane.current = undefined;
      resolve(outcome);
    }
    if (limit !== undefined) timer = setLongTimeout(() => finish({ error: timeoutError(handler, method, limit) }), limit);
    if (lane !== undefined) lane.current = inFlight;
    void settlementOf(started).then(finish);
  });
}

/**
 * Calls a method of a handler with `serial: true`, delivered blocking. The handler never has two calls in
 * flight: while one is (even one its run stopped waiting for at its time limit), the next waits in the
 * handler's lane, in event order. The run waits for the call, time in the lane included, at most the
 * handler's time limit; past it the run goes on with a {@link HandlerTimeoutError}, and the call still
 * happens, in its turn.
 */
export function callSerial(
  handler: CallbackHandler,
  method: HandlerMethodName,
  args: unknown[],
  runId: string | undefined,
  rootRunId: string | undefined,
): CallOutcome | Promise<CallOutcome> {
  const lane = laneOf(handler);
  const limit = limitOf(handler, true);
  if (!lane.active) {
    const started = startCall(handler, method, args);
    if (isCallOutcome(started)) return started;
    const settled = settlementOf(started);
    lane.occupy(settled);
    return limit === undefined ? settled : bounded(settled, limit, handler, method);
  }
  // Another call of this handler is in flight: wait for our turn, in order, as long as the limit allows.
  return new Promise<CallOutcome>((resolve) => {
    let timer: LongTimeout | undefined;
    let done = false;
    const settle = (outcome: CallOutcome): void => {
      if (done) return;
      done = true;
      clearLongTimeout(timer);
      resolve(outcome);
    };
    if (limit !== undefined) timer = setLongTimeout(() => settle({ error: timeoutError(handler, method, limit) }), limit);
    lane.enqueue({ handler, method, args, runId, rootRunId, settle });
  });
}

/** `settled`, or a {@link HandlerTimeoutError} outcome once `limit` ms have passed, whichever comes first. */
function bounded(settled: Promise<CallOutcome>, limit: number, handler: CallbackHandler, method: HandlerMethodName): Promise<CallOutcome> {
  return new Promise<CallOutcome>((resolve) => {
    const timer = setLongTimeout(() => resolve({ error: timeoutError(handler, method, limit) }), limit);
    void settled.then((outcome) => {
      clearLongTimeout(timer);
      resolve(outcome);
    });
  });
}

function timeoutError(handler: CallbackHandler, method: HandlerMethodName, limit: number): HandlerTimeoutError {
  return new HandlerTimeoutError(handlerName(handler), method, limit);
}

function stuckError(handler: CallbackHandler, method: HandlerMethodName): Error {
  return new Error(`Handler \`${handlerName(handler)}\` never finished ${method}; abandoned as the process was about to exit.`);
}

/** A handler's name for reports; never throws, whatever the handler is. */
export function handlerName(handler: CallbackHandler): string {
  try {
    if (typeof handler.name === 'string' && handler.name) return handler.name;
    const ctor = (handler as { constructor?: { name?: string } }).constructor;
    return ctor?.name && ctor.name !== 'Object' ? ctor.name : 'anonymous handler';
  } catch {
    return 'anonymous handler';
  }
}

export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  try {
    return typeof (value as PromiseLike<unknown>).then === 'function';
  } catch {
    // A revoked Proxy, or a `then` getter that throws: not something that can be awaited.
    return false;
  }
}

/**
 * The queue of one handler: calls happen one at a time, in the order they were queued. Background
 * handlers get all their events through it; serial handlers get through it the events that arrive while a
 * call is in flight.
 */
export class Lane {
  /** The call in flight, if it is asynchronous: lets `beforeExit` abandon a call that can never settle. */
  current: { readonly method: HandlerMethodName; readonly abandon: () => void } | undefined;
  private readonly items: (Delivery | undefined)[] = [];
  private head = 0;
  private busy = false;

  constructor(readonly handler: CallbackHandler) {
    this.current = undefined;
  }

  /** True while a call is in flight or events are waiting. */
  get active(): boolean {
    return this.busy || this.head < this.items.length;
  }

  /** Number of events waiting (not counting the one in flight). */
  get waiting(): number {
    return this.items.length - this.head;
  }

  /** Queues `delivery`; starts delivering if idle. */
  enqueue(delivery: Delivery): void {
    this.items.push(delivery);
    activeLanes.add(this);
    if (!this.busy) void this.drain();
  }

  /** Marks the lane busy until `pending` (a call made directly, outside the queue) settles. */
  occupy(pending: Promise<CallOutcome>): void {
    this.busy = true;
    activeLanes.add(this);
    void pending.then(() => {
      this.busy = false;
      if (this.head < this.items.length) void this.drain();
      else activeLanes.delete(this);
    });
  }

  private next(): Delivery | undefined {
    if (this.head >= this.items.length) return undefined;
    const delivery = this.items[this.head] as Delivery;
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return delivery;
  }

  private async drain(): Promise<void> {
    this.busy = true;
    for (let delivery = this.next(); delivery !== undefined; delivery = this.next()) {
      let outcome: CallOutcome;
      if (delivery.settle !== undefined) {
        // A serial handler's blocking event: the next call waits until this one has really settled, even if
        // its run stopped waiting at the time limit.
        const started = startCall(delivery.handler, delivery.method, delivery.args);
        outcome = isCallOutcome(started) ? started : await settlementOf(started);
        delivery.settle(outcome);
      } else {
        outcome = await callInBackground(delivery, this);
        finishBackground(delivery, outcome);
      }
    }
    this.busy = false;
    activeLanes.delete(this);
  }

  /**
   * At exit, where nothing asynchronous can finish: delivers the waiting events that synchronous methods
   * take, in order, and returns how many events of this lane are lost (the call in flight, if any, a call
   * that turned out to be asynchronous, and everything after it).
   */
  deliverAtExit(): number {
    let lost = this.current === undefined ? 0 : 1;
    for (let delivery = this.next(); delivery !== undefined; delivery = this.next()) {
      if (lost > 0) {
        lost++;
        continue;
      }
      const started = startCall(delivery.handler, delivery.method, delivery.args);
      if (isCallOutcome(started)) {
        if (started !== undefined && delivery.settle === undefined) reportBackgroundFailure(delivery, started.error);
      } else {
        lost++;
      }
    }
    return lost;
  }
}

const lanes = new WeakMap<CallbackHandler, Lane>();
const activeLanes = new Set<Lane>();

/** The lane of `handler`, created on first use. */
export function laneOf(handler: CallbackHandler): Lane {
  let lane = lanes.get(handler);
  if (lane === undefined) lanes.set(handler, (lane = new Lane(handler)));
  return lane;
}

// The context a background handler is called in (set by the run machinery): a run started there is known to
// come from a background call, and never waits for room in the queues (see waitForRoom).
let backgroundCallContext: unknown;
let runInContext: <TArgs extends unknown[], TResult>(value: unknown, fn: (...args: TArgs) => TResult, ...args: TArgs) => TResult = (
  _value,
  fn,
  ...args
) => fn(...args);
/** True during the synchronous part of a background handler call (for the `'explicit'` mode, which carries no context). */
let inBackgroundCall = 0;

/**
 * Lets the run machinery say in which context background handlers are called, and how to enter it, without
 * a circular import.
 */
export function setBackgroundCallContext(
  value: unknown,
  run: <TArgs extends unknown[], TResult>(value: unknown, fn: (...args: TArgs) => TResult, ...args: TArgs) => TResult,
): void {
  backgroundCallContext = value;
  runInContext = run;
}

/** True when a run opened with `inherited` as its context was started by a background handler call. */
export function startedInBackgroundCall(inherited: unknown): boolean {
  return inBackgroundCall > 0 || (inherited !== undefined && inherited === backgroundCallContext);
}

function callInBackground(delivery: Delivery, lane: Lane): CallOutcome | Promise<CallOutcome> {
  inBackgroundCall++;
  try {
    return runInContext(backgroundCallContext, callHandler, delivery.handler, delivery.method, delivery.args, lane);
  } finally {
    inBackgroundCall--;
  }
}

// Background accounting: events queued and not yet delivered, in all, and per run tree.
let queued = 0;
const queuedByRoot = new Map<string, number>();
const flushWaiters = new Map<string, (() => void)[]>();
let idleWaiters: (() => void)[] = [];
let roomWaiters: (() => void)[] = [];
let reportBackgroundFailure: (delivery: Delivery, error: unknown) => void = () => undefined;
let exitHooksInstalled = false;
// Run trees started by background handler calls: exempt from backpressure (see waitForRoom).
const exemptRoots = new Set<string>();

/** Lets dispatch report failed background calls without a circular import. */
export function onBackgroundFailure(report: (delivery: Delivery, error: unknown) => void): void {
  reportBackgroundFailure = (delivery, error) => {
    try {
      report(delivery, error);
    } catch {
      // Reporting never throws (see reportHandlerError); this guard keeps a lane alive whatever happens.
    }
  };
}

/** Queues a background delivery. */
export function enqueueBackground(delivery: Delivery): void {
  queued++;
  if (delivery.rootRunId !== undefined) queuedByRoot.set(delivery.rootRunId, (queuedByRoot.get(delivery.rootRunId) ?? 0) + 1);
  if (!exitHooksInstalled) installExitHooks();
  laneOf(delivery.handler).enqueue(delivery);
}

/** Marks the run tree rooted at `rootRunId` as started by a background handler call, until {@link releaseRoot}. */
export function exemptRoot(rootRunId: string): void {
  exemptRoots.add(rootRunId);
}

/** Ends what {@link exemptRoot} started; cheap when no run tree is exempt. */
export function releaseRoot(rootRunId: string): void {
  if (exemptRoots.size > 0) exemptRoots.delete(rootRunId);
}

/**
 * Resolves when the background queues hold no more than `maxQueuedEvents`; `undefined` if they already do,
 * and always for a run tree started by a background handler call: that call holds its handler's lane until
 * the run ends, so making the run wait for room could wait for itself (an LLM-as-judge evaluator whose judge
 * has a background tracer).
 */
export function waitForRoom(rootRunId: string | undefined): Promise<void> | undefined {
  if (queued <= getConfiguration().maxQueuedEvents) return undefined;
  if (rootRunId !== undefined && exemptRoots.has(rootRunId)) return undefined;
  return new Promise((resolve) => roomWaiters.push(resolve));
}

function finishBackground(delivery: Delivery, outcome: CallOutcome): void {
  if (outcome !== undefined) reportBackgroundFailure(delivery, outcome.error);
  queued--;
  const root = delivery.rootRunId;
  if (root !== undefined) {
    const left = (queuedByRoot.get(root) ?? 1) - 1;
    if (left > 0) queuedByRoot.set(root, left);
    else {
      queuedByRoot.delete(root);
      const waiters = flushWaiters.get(root);
      flushWaiters.delete(root);
      waiters?.forEach((resolve) => resolve());
    }
  }
  if (roomWaiters.length > 0 && queued <= getConfiguration().maxQueuedEvents) {
    const waiting = roomWaiters;
    roomWaiters = [];
    waiting.forEach((resolve) => resolve());
  }
  if (queued === 0 && idleWaiters.length > 0) {
    const waiting = idleWaiters;
    idleWaiters = [];
    waiting.forEach((resolve) => resolve());
  }
}

/** Whether a background event of the run tree rooted at `rootRunId` is waiting or in flight now. */
export function backgroundPending(rootRunId: string): boolean {
  // Asked once per server request: with no background event anywhere, no run id is hashed.
  return queuedByRoot.size > 0 && queuedByRoot.has(rootRunId);
}

/** Resolves when no background event of the run tree rooted at `rootRunId` is waiting or in flight. */
export function backgroundFlushed(rootRunId: string): Promise<void> {
  if (!queuedByRoot.has(rootRunId)) return Promise.resolve();
  return new Promise((resolve) => {
    const waiters = flushWaiters.get(rootRunId) ?? [];
    waiters.push(resolve);
    flushWaiters.set(rootRunId, waiters);
  });
}

/** Resolves when no background event is waiting or in flight. */
export function backgroundIdle(): Promise<void> {
  if (queued === 0) return Promise.resolve();
  return new Promise((resolve) => idleWaiters.push(resolve));
}

// ---- Exit paths -------------------------------------------------------------------------------------------
// `process` is touched only here, lazily, and only where it exists: the core stays loadable in a browser.

function hasProcess(): boolean {
  return typeof process !== 'undefined' && typeof process.on === 'function';
}

let exitCause: string | undefined;

function installExitHooks(): void {
  exitHooksInstalled = true;
  if (!hasProcess()) return;
  process.on('beforeExit', deliverBeforeExit);
  process.on('exit', deliverAtExit);
  // Only watches: it changes nothing about how Node handles the error.
  process.on('uncaughtExceptionMonitor', (_error, origin) => {
    exitCause = origin === 'unhandledRejection' ? 'an unhandled rejection' : 'an uncaught exception';
  });
}

const warnedStuck = new WeakSet<CallbackHandler>();

// Node emits 'beforeExit' when nothing is left to keep the process alive. Undelivered background events at
// that point mean a handler call is stuck on a promise that can never settle: warn, abandon it, and let
// the queues deliver the rest (which keeps the process alive until they are done).
function deliverBeforeExit(): void {
  if (queued === 0) return;
  for (const lane of activeLanes) {
    const stuck = lane.current;
    if (stuck === undefined) continue;
    if (!warnedStuck.has(lane.handler)) {
      warnedStuck.add(lane.handler);
      console.warn(
        `[callscope] Handler \`${handlerName(lane.handler)}\` is stuck in ${stuck.method} (its promise never settles) ` +
          `with ${lane.waiting} more event(s) waiting; abandoning the call so they can be delivered before exit. ` +
          'Give it a handlerTimeoutMs to bound such calls.',
      );
    }
    stuck.abandon();
  }
}

// Node emits 'exit' on process.exit(), after an uncaught exception or unhandled rejection, and at a normal
// end; nothing asynchronous can run any more. Synchronous handlers get their waiting events now; what
// asynchronous handlers still had is lost, and one warning says so.
function deliverAtExit(code: number): void {
  if (queued === 0) return;
  const lost = new Map<string, number>();
  let total = 0;
  for (const lane of [...activeLanes]) {
    const count = lane.deliverAtExit();
    if (count === 0) continue;
    const name = handlerName(lane.handler);
    lost.set(name, (lost.get(name) ?? 0) + count);
    total += count;
  }
  if (total === 0) return;
  const which = [...lost].map(([name, count]) => `${count} of \`${name}\``).join(', ');
  const cause = exitCause === undefined ? '' : ` after ${exitCause}`;
  process.stderr.write(
    `[callscope] ${total} background handler event${total === 1 ? ' was' : 's were'} lost: the process exited (code ${code}${cause}) ` +
      `before asynchronous handlers could receive them (${which}). To avoid it, \`await awaitAllCallbacks()\` ` +
      '(or `flushCallbacks(runId)`) before calling process.exit(), handle errors so that none escapes, and for ' +
      "SIGTERM/SIGINT set `configure({ shutdownSignals: ['SIGTERM', 'SIGINT'] })`.\n",
  );
}

// Signal numbers that are the same on Linux and macOS: the exit code of a process a signal ended is 128 + it.
const SIGNAL_NUMBERS: Readonly<Record<ShutdownSignal, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };
const signalListeners = new Map<ShutdownSignal, () => void>();
let shuttingDown = false;

function installShutdownSignals(signals: readonly ShutdownSignal[]): void {
  if (!hasProcess()) return;
  for (const [signal, listener] of signalListeners) {
    if (signals.includes(signal)) continue;
    process.off(signal, listener);
    signalListeners.delete(signal);
  }
  for (const signal of signals) {
    if (signalListeners.has(signal)) continue;
    const listener = (): void => shutDown(signal, listener);
    signalListeners.set(signal, listener);
    process.on(signal, listener);
  }
}

// Delivers the background queues within shutdownTimeoutMs, then ends the process as the signal would have,
// unless the application listens to the signal too (then ending the process is its call).
function shutDown(signal: ShutdownSignal, listener: () => void): void {
  const code = 128 + SIGNAL_NUMBERS[signal];
  const alone = process.listeners(signal).every((other) => other === listener);
  if (shuttingDown) {
    // A second signal while delivering: stop waiting.
    if (alone) process.exit(code);
    return;
  }
  shuttingDown = true;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    clearLongTimeout(timer);
    shuttingDown = false;
    if (alone) process.exit(code);
  };
  const timer: LongTimeout = setLongTimeout(finish, getConfiguration().shutdownTimeoutMs);
  void backgroundIdle().then(finish);
}

onShutdownSignalsChange(installShutdownSignals);
