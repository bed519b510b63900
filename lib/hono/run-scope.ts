import type { Context, MiddlewareHandler } from 'hono';
import { parseScopeOptions, runFetchExchange, type RunScopeOptions } from '../http/internal';

/** Options of {@link runScope}: the request scope's options, given Hono's `Context` (`c`). */
export type HonoRunScopeOptions = RunScopeOptions<Context>;

/**
 * Hono 4 middleware that makes each request one root run: a `chain` run named `'METHOD /path'` (input
 * `{ method, url }`, output `{ status }`), active in context for everything after it (`await next()` runs
 * inside the run: later middleware, the handler, `c.req.json()`, Hono's error handler), with the request's
 * own handlers, tags and metadata. The run stays open while the response body streams (`streamSSE` and
 * the like) and ends when it has been read to its end; the client going away (`c.req.raw.signal`, or the
 * body being cancelled) aborts the run tree; an error thrown in a handler reaches Hono's `onError`
 * unchanged and the run ends with an error event for it. See {@link RunScopeOptions} for the options; on
 * Workers, `waitUntil: (pending, c) => c.executionCtx.waitUntil(pending)`.
 *
 * @param options - see {@link RunScopeOptions}; the functions receive Hono's `Context`.
 * @returns the middleware, for `app.use('*', ...)`.
 * @throws {@link ConfigError} when an option is invalid.
 * @example
 * ```ts
 * const app = new Hono();
 * app.use('*', runScope({ handlers: (c) => [new ConsoleTracer()], propagate: true }));
 * app.post('/chat', async (c) => c.json({ answer: await agent.invoke((await c.req.json()).question) }));
 * ```
 */
export function runScope(options?: HonoRunScopeOptions): MiddlewareHandler {
  const settings = parseScopeOptions<Context, []>(options, 'runScope()');
  return async function callscopeRunScope(context, next): Promise<void> {
    const c: Context = context;
    const url = new URL(c.req.url);
    c.res = await runFetchExchange(
      settings,
      c,
      [],
      { method: c.req.method, url: url.pathname + url.search, headers: c.req.raw.headers },
      c.req.raw.signal,
      async () => {
        await next();
        return c.res;
      },
      // Hono catches a handler's error, hands it to `onError` and keeps it here; the response is onError's.
      () => c.error,
    );
  };
}
