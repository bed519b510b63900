import { settleAllHandlerCalls } from './dispatch';

/**
 * Waits until every handler call callscope has started has finished, including calls of runs nobody awaits.
 *
 * With the default blocking delivery each run awaits its handlers before its promise settles, so after your
 * `invoke` resolves only runs you started without awaiting can still have handler calls pending. Call it
 * before a serverless function returns or a process exits.
 *
 * @returns a promise that resolves when no handler call is pending; it never rejects.
 * @example
 * ```ts
 * await chain.invoke(input, { callbacks: [tracer] });
 * await awaitAllCallbacks();
 * ```
 */
export function awaitAllCallbacks(): Promise<void> {
  return settleAllHandlerCalls();
}
