import { HandlerTimeoutError } from '../errors';
import { onBeforeExit } from '../platform';
import { getConfiguration } from '../settings';
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
 * Calls one handler method. Returns the outcome right away for a synchronous method, or a promise of it
 * (which never rejects) for an asynchronous one, abandoned after the handler's time limit.
 */
export function callHandler(
  handler: CallbackHandler,
  method: HandlerMethodName,
  args: unknown[],
  lane?: Lane,
): CallOutcome | Promise<CallOutcome> {
  let result: unknown;
  try {
    result = (handler[method] as (...a: unknown[]) => unknown).apply(handler, args);
  } catch (error) {
    return { error };
  }
  if (!isPromiseLike(result)) return undefined;
  const limit = handler.handlerTimeoutMs ?? getConfiguration().handlerTimeoutMs;
  return new Promise<CallOutcome>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const inFlight = { method, abandon: () => finish({ error: stuckError(handler, method) }) };
    function finish(outcome: CallOutcome): void {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      if (lane !== undefined && lane.current === inFlight) lane.current = undefined;
      resolve(outcome);
    }
    if (limit !== undefined) {
      timer = setTimeout(() => finish({ error: new HandlerTimeoutError(handlerName(handler), method, limit) }), limit);
    }
    if (lane !== undefined) lane.current = inFlight;
    result.then(
      () => finish(undefined),
      (error: unknown) => finish({ error }),
    );
  });
}

function stuckError(handler: CallbackHandler, method: HandlerMethodName): Error {
  return new Error(`Handler \`${handlerName(handler)}\` never finished ${method}; abandoned as the process was about to exit.`);
}

/** A handler's name for reports. */
export function handlerName(handler: CallbackHandler): string {
  if (typeof handler.name === 'string' && handler.name) return handler.name;
  const ctor = (handler as { constructor?: { name?: string } }).constructor;
  return ctor?.name && ctor.name !== 'Object' ? ctor.name : 'anonymous handler';
}

export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
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

  private async drain(): Promise<void> {
    this.busy = true;
    while (this.head < this.items.length) {
      const delivery = this.items[this.head] as Delivery;
      this.items[this.head++] = undefined;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items.splice(0, this.head);
        this.head = 0;
      }
      const outcome = await callHandler(delivery.handler, delivery.method, delivery.args, this);
      if (delivery.settle !== undefined) delivery.settle(outcome);
      else finishBackground(delivery, outcome);
    }
    this.busy = false;
    activeLanes.delete(this);
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

// Background accounting: events queued and not yet delivered, in all, and per run tree.
let queued = 0;
const queuedByRoot = new Map<string, number>();
const flushWaiters = new Map<string, (() => void)[]>();
let idleWaiters: (() => void)[] = [];
let roomWaiters: (() => void)[] = [];
let reportBackgroundFailure: (delivery: Delivery, error: unknown) => void = () => undefined;
let exitHookInstalled = false;

/** Lets dispatch report failed background calls without a circular import. */
export function onBackgroundFailure(report: (delivery: Delivery, error: unknown) => void): void {
  reportBackgroundFailure = report;
}

/** Queues a background delivery; returns a promise when the queues are over their bound (backpressure). */
export function enqueueBackground(delivery: Delivery): void {
  queued++;
  if (delivery.rootRunId !== undefined) queuedByRoot.set(delivery.rootRunId, (queuedByRoot.get(delivery.rootRunId) ?? 0) + 1);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    onBeforeExit(deliverBeforeExit);
  }
  laneOf(delivery.handler).enqueue(delivery);
}

/** Resolves when the background queues hold no more than `maxQueuedEvents`; `undefined` if they already do. */
export function waitForRoom(): Promise<void> | undefined {
  if (queued <= getConfiguration().maxQueuedEvents) return undefined;
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
