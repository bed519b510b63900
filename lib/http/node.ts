import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError, describeValue, isPromiseLike } from '../internal/for-integrations';
import { Exchange, parseScopeOptions, responsePrototypeOf, startServerRun, type FlushMode, type RunScopeOptions } from './internal/scope';

function noop(): void {}

/** The promise of a wrapped listener that returned without a promise: shared, it is settled already. */
const RETURNED: Promise<void> = Promise.resolve();

/**
 * One request of a listener wrapped by {@link withRunScope}: the exchange holds the listener's call and the
 * promise the wrapped listener returns. That promise is made only when needed: a listener that returns at
 * once (the run's body runs before the wrapper returns) gets a shared settled one, and an async listener's
 * own promise is followed; a new promise, settled later, is made only for a run whose body has not started
 * when the wrapper returns (start handlers awaited first). On Node 20 every promise made in a server costs
 * the AsyncLocalStorage hooks too.
 */
class ListenerExchange extends Exchange {
  /** The exchange whose promise is being made (see {@link ListenerExchange.captureDone}). */
  static promising: ListenerExchange | undefined = undefined;

  /** The wrapped listener's promise, once there is one (see {@link ListenerExchange.promise}). */
  declare private done: Promise<void> | undefined;
  /** Settle `done` when it was handed out before the listener had run. */
  declare private resolveDone: (() => void) | undefined;
  declare private rejectDone: ((error: unknown) => void) | undefined;

  constructor(
    flush: FlushMode,
    private listener: ((req: IncomingMessage, res: ServerResponse) => unknown) | undefined,
    private readonly thisArg: unknown,
    private req: IncomingMessage | undefined,
    private res: ServerResponse | undefined,
  ) {
    super(flush);
    // Assigned rather than initialized as class fields, like Exchange's (see there).
    this.done = undefined;
    this.resolveDone = undefined;
    this.rejectDone = undefined;
  }

  /** The executor of the wrapped listener's promise: shared, so no function is made per request. */
  static captureDone(this: void, resolve: () => void, reject: (error: unknown) => void): void {
    const exchange = ListenerExchange.promising as ListenerExchange;
    exchange.resolveDone = resolve;
    exchange.rejectDone = reject;
  }

  /**
   * What the wrapped listener returns, asked once, right after the request's run was started: settled when
   * the listener has returned (or its promise settled), rejected with what it threw.
   */
  promise(): Promise<void> {
    if (this.done !== undefined) return this.done;
    ListenerExchange.promising = this;
    this.done = new Promise<void>(ListenerExchange.captureDone);
    ListenerExchange.promising = undefined;
    return this.done;
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
      this.fail(error);
      this.threw(error);
      return;
    }
    if (!isPromiseLike(result)) {
      this.returned();
      return;
    }
    const followed = Promise.resolve(result).then(noop, (error: unknown) => {
      this.fail(error);
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the listener's own error, unchanged
      return Promise.reject(error);
    });
    if (this.resolveDone !== undefined) void followed.then(this.resolveDone, this.rejectDone as (error: unknown) => void);
    else this.done = followed;
  }

  /** The client went away before the listener started: nothing to report to anyone. */
  protected override unstarted(error: unknown): void {
    if (this.aborted) this.returned();
    else this.threw(error);
  }

  /** The request's run could not be started: the wrapped listener's promise rejects with `error`. */
  refuse(error: unknown): void {
    this.threw(error);
  }

  private returned(): void {
    if (this.resolveDone !== undefined) this.resolveDone();
    else this.done = RETURNED;
  }

  private threw(error: unknown): void {
    if (this.rejectDone !== undefined) this.rejectDone(error);
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the listener's own error, unchanged
    else this.done = Promise.reject(error);
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
    try {
      // The response's `end` is replaced once on its prototype (http.ServerResponse.prototype), not on each response.
      startServerRun(exchange, settings, req, res, req.method ?? 'GET', req.url ?? '/', settings.propagate ? req.headers : undefined, undefined, responsePrototypeOf(res));
    } catch (error) {
      // An option's function failed (or returned a bad value): the returned promise rejects with it.
      exchange.refuse(error);
    }
    return exchange.promise();
  };
}
