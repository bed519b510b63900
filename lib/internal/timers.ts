/**
 * The largest delay a Node timer honours: 2,147,483,647 ms (about 24.8 days). Node fires a timer given more
 * than this after 1 ms (with a `TimeoutOverflowWarning`), which would end a run or abandon a handler call at
 * once instead of never.
 */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/**
 * A timer for any delay, however long: a plain Node timer up to {@link MAX_TIMER_DELAY_MS}, beyond that a
 * chain of timers of at most that length each. Cleared with {@link clearLongTimeout}.
 */
export type LongTimeout = NodeJS.Timeout | ChainedTimeout;

/**
 * Lets the process exit while `timer` is pending, where the runtime has such a thing: Node and Bun return a
 * timer object with `unref()`, Deno a number that `Deno.unrefTimer` takes. Browsers and Workers return a
 * number and have no process to keep alive: nothing to do there (calling `unref()` on that number threw a
 * `TypeError`, which made every run with a `timeout` fail in those runtimes).
 */
function unrefTimer(timer: NodeJS.Timeout): void {
  const handle = timer as unknown as { unref?: unknown } | number;
  if (typeof handle === 'object' && handle !== null && typeof handle.unref === 'function') {
    (handle as { unref(): void }).unref();
    return;
  }
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof handle === 'number' && typeof deno?.unrefTimer === 'function') deno.unrefTimer(handle);
}

/** The timers of a delay longer than one Node timer can take; `current` is the one armed now. */
class ChainedTimeout {
  current: NodeJS.Timeout;
  constructor(
    readonly due: number,
    readonly callback: () => void,
    readonly ref: boolean,
  ) {
    this.current = this.arm(due - Date.now());
  }

  private arm(left: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.step(), Math.min(left, MAX_TIMER_DELAY_MS));
    if (!this.ref) unrefTimer(timer);
    return timer;
  }

  private step(): void {
    const left = this.due - Date.now();
    if (left > 0) this.current = this.arm(left);
    else this.callback();
  }
}

/**
 * Calls `callback` once after `ms` milliseconds, for any finite `ms` (delays above {@link MAX_TIMER_DELAY_MS}
 * are chained instead of firing early). Delays up to the maximum cost exactly one `setTimeout`.
 *
 * @param callback - called once, when the delay has passed.
 * @param ms - the delay, a positive finite number of milliseconds.
 * @param ref - `false` to let the process exit while the timer is pending.
 * @returns the timer, for {@link clearLongTimeout}.
 */
export function setLongTimeout(callback: () => void, ms: number, ref = true): LongTimeout {
  if (ms <= MAX_TIMER_DELAY_MS) {
    const timer = setTimeout(callback, ms);
    if (!ref) unrefTimer(timer);
    return timer;
  }
  return new ChainedTimeout(Date.now() + ms, callback, ref);
}

/** Cancels a timer made by {@link setLongTimeout}; `undefined` is ignored. */
export function clearLongTimeout(timer: LongTimeout | undefined): void {
  if (timer === undefined) return;
  clearTimeout(timer instanceof ChainedTimeout ? timer.current : timer);
}
