import { ConfigError, describeValue } from '../internal/for-integrations';
import { parseScopeOptions, runFetchExchange, type RunScopeOptions } from './internal/scope';

/**
 * Wraps a Web-standard handler, `(request: Request, ...rest) => Response` (Hono's `app.fetch`, Next.js
 * route handlers, Cloudflare Workers, Deno, Bun), so that each request is one root run, as
 * {@link withRunScope} does for `node:http`. The run stays open while the response body streams and ends
 * when it has been read to its end; `request.signal` aborting (the client went away) or the body being
 * cancelled aborts the run tree; a handler that throws ends the run with an error event and the returned
 * promise rejects with that error, unchanged. With `flush: 'before-response'` the body's stream closes only
 * after the request's background events are delivered; on a platform that freezes the function once the
 * response is sent, pass its `waitUntil`.
 *
 * @param handler - the handler; its extra arguments (a Worker's `env` and `ctx`) are passed through.
 * @param options - see {@link RunScopeOptions}; `waitUntil` also receives the handler's extra arguments.
 * @returns the wrapped handler.
 * @throws {@link ConfigError} when `handler` is not a function or an option is invalid.
 * @example
 * ```ts
 * export default {
 *   fetch: withRunScopeFetch(async (request: Request, env: Env, ctx: ExecutionContext) => {
 *     return new Response(await agent.invoke(await request.text()));
 *   }, { handlers: () => [tracer], flush: 'after-response', waitUntil: (pending, _request, _env, ctx) => ctx.waitUntil(pending) }),
 * };
 * ```
 */
export function withRunScopeFetch<TRequest extends Request = Request, TRest extends unknown[] = []>(
  handler: (request: TRequest, ...rest: TRest) => Response | Promise<Response>,
  options?: RunScopeOptions<TRequest, TRest>,
): (request: TRequest, ...rest: TRest) => Promise<Response> {
  if (typeof handler !== 'function') {
    throw new ConfigError('handler', handler, `Expected withRunScopeFetch() to receive a handler function, got ${describeValue(handler)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  const settings = parseScopeOptions<TRequest, TRest>(options, 'withRunScopeFetch()');
  return function scopedFetch(this: unknown, request: TRequest, ...rest: TRest): Promise<Response> {
    const url = new URL(request.url);
    return runFetchExchange(
      settings,
      request,
      rest,
      { method: request.method, url: url.pathname + url.search, headers: request.headers },
      request.signal,
      () => handler.call(this, request, ...rest),
    );
  };
}
