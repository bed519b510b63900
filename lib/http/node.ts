import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../index';
import { describeValue } from '../internal/for-integrations';
import { Exchange, parseScopeOptions, scopeServerResponse, startRequestRun, type RunScopeOptions } from './internal/scope';

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}

/**
 * Wraps a `node:http` request listener so that each request is one root run: a `chain` run named
 * `'METHOD /path'` (input `{ method, url }`, output `{ status }`), active in context for everything the
 * listener does, with the request's own handlers, tags and metadata. The run ends when the listener ends the
 * response (`res.end()`); a client that disconnects before that aborts the run tree through its `signal`
 * (models stop, the run ends with an `AbortError`); a listener that throws or rejects ends the run with an
 * error event, and the returned promise rejects with that error, unchanged. See {@link RunScopeOptions}.
 *
 * @param listener - the request listener, `(req, res) => ...`, sync or async.
 * @param options - see {@link RunScopeOptions}.
 * @returns a request listener for `http.createServer`; it returns a promise that settles when `listener`
 *   has returned (or its promise settled), rejecting with what it threw.
 * @throws {@link ConfigError} when `listener` is not a function or an option is invalid.
 * @example
 * ```ts
 * http.createServer(withRunScope(async (req, res) => {
 *   res.end(await agent.invoke(await readBody(req))); // a child of the request's run, with its handlers
 * }, { handlers: (req) => [new ConsoleTracer()] })).listen(8080);
 * ```
 */
export function withRunScope<TRequest extends IncomingMessage = IncomingMessage, TResponse extends ServerResponse = ServerResponse>(
  listener: (req: TRequest, res: TResponse) => unknown,
  options?: RunScopeOptions<TRequest>,
): (req: TRequest, res: TResponse) => Promise<void> {
  if (typeof listener !== 'function') {
    throw new ConfigError('listener', listener, `Expected withRunScope() to receive a request listener function, got ${describeValue(listener)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  const settings = parseScopeOptions<TRequest, []>(options, 'withRunScope()');
  return function scopedListener(this: unknown, req: TRequest, res: TResponse): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const exchange = new Exchange(settings.flush);
      const fail = (error: unknown): void => {
        exchange.fail(error);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the listener's own error, unchanged
        reject(error);
      };
      scopeServerResponse(exchange, settings, req, res);
      startRequestRun(
        exchange,
        settings,
        req,
        { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers },
        () => {
          let result: unknown;
          try {
            result = listener.call(this, req, res);
          } catch (error) {
            fail(error);
            return;
          }
          if (isPromiseLike(result)) result.then(() => resolve(), fail);
          else resolve();
        },
        // The client went away before the listener started: nothing to report to anyone.
        (error) => (exchange.aborted ? resolve() : reject(error as Error)),
      );
    });
  };
}
