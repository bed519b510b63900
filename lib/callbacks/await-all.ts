import { ConfigError, describeValue } from '../errors';
import { backgroundFlushed } from './delivery';
import { settleAllHandlerCalls } from './dispatch';

/**
 * Waits until every handler call callscope has started has finished: blocking calls of runs nobody awaits,
 * and every event waiting in background queues.
 *
 * With the default blocking delivery each run awaits its handlers before its promise settles, so after your
 * `invoke` resolves only runs you started without awaiting can still have handler calls pending. With
 * background delivery, call it (or {@link flushCallbacks}) before a serverless function returns or a
 * process exits.
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

/**
 * Waits until the background events of one run tree have all been delivered, without waiting for any other
 * request's: a slow handler on one request never holds another request's response.
 *
 * @param runId - the id of the top-level run (pass `runId` in its config to know it); for a nested run's id,
 *   only that run's own events are awaited.
 * @returns a promise that resolves when the tree has no event waiting or in flight; it never rejects.
 * @throws {@link ConfigError} when `runId` is not a string.
 * @example
 * ```ts
 * const runId = randomUUID();
 * const answer = await agent.invoke(question, { runId, callbacks: [tracer] });
 * await flushCallbacks(runId);
 * return answer;
 * ```
 */
export async function flushCallbacks(runId: string): Promise<void> {
  if (typeof runId !== 'string' || runId.length === 0) {
    throw new ConfigError('runId', runId, `Expected flushCallbacks() to receive a run id string, got ${describeValue(runId)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  await backgroundFlushed(runId);
}
