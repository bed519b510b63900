import { AbortError, RunTimeoutError } from '../errors';
import { setLongTimeout, type LongTimeout } from '../internal/timers';
import type { RunScope } from './config';

// One 'abort' listener per signal, however many runs share it: Node warns about a possible leak past ten
// listeners on an EventTarget, and 10,000 concurrent runs on one request's signal must not trip it.
const subscribers = new WeakMap<AbortSignal, { readonly callbacks: Set<() => void>; readonly listener: () => void }>();

/**
 * Calls `callback` when `signal` aborts. Later subscribers are called first, so nested runs (which
 * subscribe after their parents) are cancelled before their parents. Returns the unsubscribe function.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let entry = subscribers.get(signal);
  if (entry === undefined) {
    const callbacks = new Set<() => void>();
    const listener = (): void => {
      subscribers.delete(signal);
      const pending = [...callbacks].reverse();
      callbacks.clear();
      for (const notify of pending) notify();
    };
    entry = { callbacks, listener };
    subscribers.set(signal, entry);
    signal.addEventListener('abort', listener, { once: true });
  }
  const { callbacks, listener } = entry;
  callbacks.add(callback);
  return () => {
    // The last run to leave takes the listener along: nothing stays on a long-lived signal.
    if (callbacks.delete(callback) && callbacks.size === 0 && subscribers.get(signal) === entry) {
      subscribers.delete(signal);
      signal.removeEventListener('abort', listener);
    }
  };
}

/** The error a run rejects with when its signal aborts: a {@link RunTimeoutError} for a deadline. */
export function abortErrorFor(scope: RunScope, signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason;
  const runName = scope._runName ?? 'run';
  return reason instanceof RunTimeoutError ? new RunTimeoutError(runName, reason.timeoutMs) : new AbortError(runName, reason);
}

/**
 * Starts the deadline of a run with a `timeout`: a signal that aborts (with a {@link RunTimeoutError} as
 * its reason) after `timeoutMs`, combined with the inherited signal, and the timer to clear when the run ends.
 */
export function startDeadline(runName: string, timeoutMs: number): { signal: AbortSignal; timer: LongTimeout } {
  const controller = new AbortController();
  // Chained past Node's largest timer delay, which would otherwise fire at once; and unreferenced: a
  // deadline alone must not keep the process alive.
  const timer = setLongTimeout(() => controller.abort(new RunTimeoutError(runName, timeoutMs)), timeoutMs, false);
  return { signal: controller.signal, timer };
}

/**
 * Settles with `value`, or rejects with the run's {@link AbortError} as soon as `signal` aborts, whichever
 * comes first. The subscription is removed either way.
 */
export function raceAbort<T>(value: Promise<T> | T, signal: AbortSignal, scope: RunScope): Promise<T> {
  if (signal.aborted) {
    // The body's own outcome no longer matters; keep it from surfacing as an unhandled rejection.
    Promise.resolve(value).catch(noop);
    return Promise.reject(abortErrorFor(scope, signal));
  }
  return new Promise<T>((resolve, reject) => {
    const unsubscribe = onAbort(signal, () => reject(abortErrorFor(scope, signal)));
    Promise.resolve(value).then(
      (result) => {
        unsubscribe();
        resolve(result);
      },
      (error: unknown) => {
        unsubscribe();
        // The body's own error, passed through unchanged.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(error);
      },
    );
  });
}

function noop(): void {}
