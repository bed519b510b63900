import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError, describeValue } from '../internal/for-integrations';
import { Exchange, parseScopeOptions, startServerRun, type FlushMode, type RunScopeOptions } from './internal/scope';

function noop(): void {}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}

/**
 * One request of a listener wrapped by {@link withRunScope}: the exchange holds the listener's call and the
 * promise the wrapped listener returns, so a request makes no function of its own.
 */
class ListenerExchange extends Exchange {
  /** The exchange whose promise is being made (see {@link ListenerExchange.captureDone}). */
  static promising: ListenerExchange | undefined = undefined;

  private resolveDone: () => void = noop;
  private rejectDone: (error: unknown) => void = noop;

  constructor(
    flush: FlushMode,
    private listener: ((req: IncomingMessage, res: ServerResponse) => unknown) | undefined,
    private readonly thisArg: unknown,
    private req: IncomingMessage | undefined,
    private res: ServerResponse | undefined,
  ) {
    super(flush);
  }

  /** The executor of the wrapped listener's promise: shared, so no function is made per request. */
  static captureDone(this: void, resolve: () => void, reject: (error: unknown) => void): void {
    const exchange = ListenerExchange.promising as ListenerExchange;
    exchange.resolveDone = resolve;
    exchange.rejectDone = reject;
  }

  /** Calls the listener inside the run, then lets go of it, the request and the response. */
  protected override runBody(): void {
    const { listener, req, res } = this;
    this.listener = undefined;
    this.req = undefined;
    this.res = undefined;
    let result: unknown;
    try {
      result = (listener as (req: IncomingMessage, res: ServerResponse) => unknown).call(this.thisArg, req as IncomingMessage, res as ServerResponse);
    } catch (error) {
      this.failed(error);
      return;
    }
    if (isPromiseLike(result)) {
      result.then(
        () => this.resolveDone(),
        (error: unknown) => this.failed(error),
      );
    } else this.resolveDone();
  }

  /** The client went away before the listener started: nothing to report to anyone. */
  protected override unstarted(error: unknown): void {
    if (this.aborted) this.resolveDone();
    else this.rejectDone(error);
  }

  /** The request's run could not be started: the wrapped listener's promise rejects with `error`. */
  refuse(error: unknown): void {
    this.rejectDone(error);
  }

  private failed(error: unknown): void {
    this.fail(error);
    this.rejectDone(error);
  }
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
    const exchange = new ListenerExchange(settings.flush, listener as (req: IncomingMessage, res: ServerResponse) => unknown, this, req, res);
    ListenerExchange.promising = exchange;
    const done = new Promise<void>(ListenerExchange.captureDone);
    ListenerExchange.promising = undefined;
    try {
      startServerRun(exchange, settings, req, res, { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
    } catch (error) {
      // An option's function failed (or returned a bad value): the returned promise rejects with it.
      exchange.refuse(error);
    }
    return done;
  };
}
