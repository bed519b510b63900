import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { Exchange, parseScopeOptions, startServerRun, type FlushMode, type RunScopeOptions } from '../http/internal';

/** Options of {@link runScope}: the request scope's options, given Express's `Request`. */
export type ExpressRunScopeOptions = RunScopeOptions<Request>;

// Express's router (its `router` dependency, from 2.3) remembers on the request, under this registered
// symbol, every error passed to `next(err)`, thrown by a handler or rejected by its promise: the error its
// error handling receives. Read when the response ends, it is the route's error, unchanged. With an older
// router nothing is recorded, and the run ends with the response's status instead.
const ROUTER_ERRORS = Symbol.for('router.tracing.publishedErrors');

function routeError(req: Request): unknown {
  const seen = (req as unknown as Record<symbol, unknown>)[ROUTER_ERRORS];
  if (!(seen instanceof Set) || seen.size === 0) return undefined;
  return (seen as Set<unknown>).values().next().value;
}

/** One request through {@link runScope}: the exchange holds Express's `next`, so a request makes no function of its own. */
class MiddlewareExchange extends Exchange {
  constructor(
    flush: FlushMode,
    private next: NextFunction | undefined,
  ) {
    super(flush);
  }

  /** Continues Express's routing inside the run (every later middleware, route and error handler), once. */
  protected override runBody(): void {
    const next = this.next as NextFunction;
    this.next = undefined;
    next();
  }

  /** The run ended before the routing could go on: Express's error handling gets the error, unless the client left. */
  protected override unstarted(error: unknown): void {
    if (!this.aborted) (this.next as NextFunction)(error);
  }
}

/**
 * Express 5 middleware that makes each request one root run, for every route registered after it: a
 * `chain` run named `'METHOD /path'` (input `{ method, url }`, output `{ status }`), active in context for
 * everything that follows (`next()` is called inside the run, so later middleware, body parsing, route
 * handlers and error handlers all run in it), with the request's own handlers, tags and metadata. The run
 * ends when the response is ended; a client that disconnects before that aborts the run tree through its
 * `signal`; an error thrown in a route (or passed to `next`) reaches Express's error handling unchanged and
 * the run ends with an error event for it. See {@link RunScopeOptions} for the options.
 *
 * @param options - see {@link RunScopeOptions}; the functions receive Express's `req`.
 * @returns the middleware, for `app.use(...)`.
 * @throws {@link ConfigError} when an option is invalid.
 * @example
 * ```ts
 * const app = express();
 * app.use(runScope({ handlers: (req) => [new ConsoleTracer()], propagate: true }));
 * app.post('/chat', express.json(), async (req, res) => {
 *   res.json({ answer: await agent.invoke(req.body.question) }); // a child of the request's run
 * });
 * ```
 */
export function runScope(options?: ExpressRunScopeOptions): RequestHandler {
  const settings = parseScopeOptions<Request, []>(options, 'runScope()');
  return function callscopeRunScope(req: Request, res: Response, next: NextFunction): void {
    const exchange = new MiddlewareExchange(settings.flush, next);
    try {
      // Every Express response inherits `end` from `express.response`: replaced there once, not per response.
      startServerRun(exchange, settings, req, res, req.method, req.originalUrl, settings.propagate ? req.headers : undefined, routeError, express.response);
    } catch (error) {
      next(error);
    }
  };
}
