import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { CallbackManager, CallbackHandlerLike, RunnableConfig } from '../../index';
import {
  AbortError,
  ConfigError,
  Runnable,
  flushCallbacks,
  bindToCurrentContext,
  backgroundPending,
  currentBackend,
  describeValue,
  executeObservedRun,
  knownRunId,
  openDormantRoot,
  openScope,
  watchedSignal,
  type RunScope,
} from '../../internal/for-integrations';
import { extractRunContext } from '../../opentelemetry/propagation';
import { withRemoteSpan } from './remote-span';

/**
 * When a request's background events (`configure({ callbacks: 'background' })`, or handlers with
 * `awaitHandlers: false`) are delivered, relative to its response:
 *
 * - `'before-response'`: before the response's last byte leaves (the response is held until they are);
 * - `'after-response'`: after the response has ended, without holding it (hand the wait to the platform with
 *   `waitUntil`);
 * - `'none'`: callscope does not wait for them per request (they are delivered in the background anyway).
 */
export type FlushMode = 'before-response' | 'after-response' | 'none';

/**
 * Options of the request scope, the same for every adapter: `withRunScope` and `withRunScopeFetch`
 * (`callscope/http`), `runScope` (`callscope/express`, `callscope/hono`) and `runScopePlugin`
 * (`callscope/fastify`). `TRequest` is what the adapter hands to the functions below: Node's
 * `IncomingMessage`, a fetch `Request`, Express's `Request`, Fastify's `FastifyRequest`, Hono's `Context`.
 */
export interface RunScopeOptions<TRequest, TExtra extends unknown[] = []> {
  /**
   * The handlers of this request's runs: a token stream back to this client, a tracer with the user's id.
   * Called once per request. @default no handlers
   */
  handlers?: (request: TRequest) => readonly CallbackHandlerLike[];
  /** The name of the request's run. @default `'METHOD /path'`, e.g. `'POST /chat'` (the query left out) */
  runName?: (request: TRequest) => string;
  /** Tags of the request's run and every run below it. @default [] */
  tags?: readonly string[];
  /** Metadata of the request's run and every run below it. Called once per request. @default {} */
  metadata?: (request: TRequest) => Record<string, unknown>;
  /**
   * Continue the caller's run tree and trace from the request's `traceparent` and `baggage` headers, as
   * `extractRunContext` (`callscope/opentelemetry`) does; a `traceparent` from a caller that is not callscope
   * (no run id in `baggage`) still makes the request's span a child of the caller's span. Headers are
   * untrusted input: a malformed one is ignored, never fails the request. @default false
   */
  propagate?: boolean;
  /** When the request's background events are delivered, see {@link FlushMode}. @default 'before-response' */
  flush?: FlushMode;
  /**
   * Hands the request's pending work to the platform, such as a Worker's `ctx.waitUntil` or Vercel's
   * `waitUntil`: called once per request, before the response is returned, with a promise that resolves when
   * the request's run has ended and (unless `flush` is `'none'`) its background events are delivered. It
   * also receives the request (and, for `withRunScopeFetch`, the handler's other arguments, so a Worker's
   * `ctx` can be reached). @default none
   */
  waitUntil?: (pending: Promise<void>, request: TRequest, ...extra: TExtra) => void;
}

/** The validated options. */
export interface ScopeSettings<TRequest, TExtra extends unknown[]> {
  readonly handlers: ((request: TRequest) => readonly CallbackHandlerLike[]) | undefined;
  readonly runName: ((request: TRequest) => string) | undefined;
  readonly tags: readonly string[] | undefined;
  readonly metadata: ((request: TRequest) => Record<string, unknown>) | undefined;
  readonly propagate: boolean;
  readonly flush: FlushMode;
  readonly waitUntil: ((pending: Promise<void>, request: TRequest, ...extra: TExtra) => void) | undefined;
}

const OPTION_KEYS = ['handlers', 'runName', 'tags', 'metadata', 'propagate', 'flush', 'waitUntil'] as const;
const FLUSH_MODES: readonly FlushMode[] = ['before-response', 'after-response', 'none'];

function invalid(where: string, field: string, received: unknown, expected: string): ConfigError {
  return new ConfigError(field, received, `Expected \`${field}\` in ${where} options to be ${expected}, got ${describeValue(received)}.`, {
    code: 'INVALID_ARGUMENT',
  });
}

/**
 * Validates the options of an adapter.
 *
 * @param where - how the adapter is named in messages, e.g. `'withRunScope()'`.
 * @param ignored - option keys the framework itself adds (Fastify's `prefix`), skipped.
 * @throws {@link ConfigError} naming the first bad or unknown option.
 */
export function parseScopeOptions<TRequest, TExtra extends unknown[]>(
  options: unknown,
  where: string,
  ignored: readonly string[] = [],
): ScopeSettings<TRequest, TExtra> {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError('options', options, `Expected ${where} options to be an object, got ${describeValue(options)}.`, { code: 'INVALID_ARGUMENT' });
  }
  const record = options as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key) && !ignored.includes(key)) {
      throw new ConfigError(key, record[key], `Unknown option \`${key}\` in ${where} options; expected only: ${OPTION_KEYS.join(', ')}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
  }
  const { handlers, runName, tags, metadata, propagate, flush, waitUntil } = record;
  for (const [field, value] of [['handlers', handlers], ['runName', runName], ['metadata', metadata], ['waitUntil', waitUntil]] as const) {
    if (value !== undefined && typeof value !== 'function') throw invalid(where, field, value, 'a function');
  }
  if (tags !== undefined && !(Array.isArray(tags) && tags.every((tag) => typeof tag === 'string'))) throw invalid(where, 'tags', tags, 'an array of strings');
  if (propagate !== undefined && typeof propagate !== 'boolean') throw invalid(where, 'propagate', propagate, 'a boolean');
  if (flush !== undefined && !FLUSH_MODES.includes(flush as FlushMode)) {
    throw invalid(where, 'flush', flush, `one of ${FLUSH_MODES.map((mode) => `'${mode}'`).join(', ')}`);
  }
  return {
    handlers: handlers as ScopeSettings<TRequest, TExtra>['handlers'],
    runName: runName as ScopeSettings<TRequest, TExtra>['runName'],
    tags: tags === undefined ? undefined : Object.freeze([...(tags)]),
    metadata: metadata as ScopeSettings<TRequest, TExtra>['metadata'],
    propagate: propagate === true,
    flush: (flush as FlushMode | undefined) ?? 'before-response',
    waitUntil: waitUntil as ScopeSettings<TRequest, TExtra>['waitUntil'],
  };
}

/** What a request run is told about the request, whatever the framework. */
export interface RequestFacts {
  readonly method: string;
  /** Path and query, as the request line has it: `/chat?x=1`. */
  readonly url: string;
  /** The headers, read only when `propagate` is set. */
  readonly headers: IncomingHttpHeaders | Headers;
}

/** The input of a request's run. */
export interface RequestRunInput {
  readonly method: string;
  readonly url: string;
}

/** The output of a request's run. */
export interface RequestRunOutput {
  readonly status: number;
}

function noop(): void {}

const RESOLVED: Promise<void> = Promise.resolve();

function callThrough<T>(fn: () => T): T {
  return fn();
}

/** The reason the signal of a request whose client went away aborts with. */
export function clientGone(): Error {
  const error = new Error('The client disconnected before the response ended.');
  error.name = 'ClientDisconnectedError';
  return error;
}

/**
 * One request's root run, and the runnable of that run: a `chain` run whose body is the adapter's
 * continuation (the route, `next()`, a hook's `done()`), called inside the run's context, possibly before
 * {@link startRequestRun} returns. The run then stays open until the adapter says how the request ended:
 * `finish(status)`, `fail(error)`, or `abort()` when the client went away.
 *
 * Adapters either pass the continuation as a function (`body`) or subclass this and override
 * {@link Exchange.runBody} and {@link Exchange.unstarted}, which spares the functions made per request: one
 * object per request is the runnable, the run's outcome and the adapter's state.
 *
 * On Node 20 the request's `AbortSignal` is made only when something reads it (a run started in the route,
 * `getCurrentConfig().signal`): making one costs about 5 µs there, which for a route that starts no run was
 * most of the scope's cost (from Node 22 it costs tens of nanoseconds, and is made with the run's scope; see
 * `deferSignal`). Either way the request run does not subscribe to it: `abort()` ends the run itself.
 */
export class Exchange extends Runnable<RequestRunInput | undefined, RequestRunOutput> {
  /** The exchange whose outcome or end promise is being made (see {@link Exchange.captureOutcome}). */
  private static capturing: Exchange | undefined = undefined;

  /**
   * The request run's id, known once its scope is open (its start event, or its body): learnt from the scope
   * rather than chosen here, so the run's config carries no id to check. `undefined` while the run has not
   * started, and forever for a request whose client left before that (no event was sent for it). For a run
   * nobody observes, see {@link Exchange.knownRunId}.
   */
  declare runId: string | undefined;
  /** The handlers of a run nobody observes, whose id is made only when something reads it (see `openDormantRoot`). */
  declare private dormant: CallbackManager | undefined;
  /** Settles (never rejects) when the request's run has ended and its end or error event was emitted. */
  declare ended: Promise<void>;
  /** Resolves `ended` of a run nobody observes that was still open when its body returned (see {@link Exchange.start}). */
  declare private resolveEnded: (() => void) | undefined;
  /** Whether the run's body (the route) has started. */
  declare entered: boolean;
  declare private settled: boolean;
  declare private controller: AbortController | undefined;
  /** Set by `abort()`: why the request's signal aborts (it may not exist yet). */
  declare private abortReason: Error | undefined;
  /** Whether the request run itself reports to any handler (known once its body has started). */
  declare private observed: boolean;
  // The body's promise is made only once the body has returned with the outcome still open: most routes
  // end the response before that (a settled outcome is kept below instead), and a promise plus the two
  // functions that settle it are most of what a request allocates here.
  declare private resolveOutcome: ((output: RequestRunOutput) => void) | undefined;
  declare private rejectOutcome: ((error: unknown) => void) | undefined;
  /**
   * How the request ended when it ended before the body's promise was made: the response's status (the run's
   * output `{ status }` is made only for a body that is asked for it), or -1 and the failure.
   */
  declare private status: number;
  declare private failure: unknown;
  /** The request line, for the run's input (made only when a handler sees the start event). */
  declare private method: string;
  declare private url: string;

  /** The adapter's continuation, when it passes one rather than overriding {@link Exchange.runBody}. */
  declare body: () => void;
  /** Told when the run ended before its body could start, unless {@link Exchange.unstarted} is overridden. */
  declare onUnstarted: (error: unknown) => void;

  // The response side, for a request served on a Node `ServerResponse` (see startServerRun): the exchange is
  // also the response's state, found through the response by the shared `end` and 'close' listener, so a
  // request makes one object for its run's runnable, its outcome and its response.
  /** The adapter's request, handed to `errorOf` and `waitUntil`. */
  declare request: unknown;
  /** The response's `end` before the scope replaced it; `undefined` when {@link Exchange.outer} ends it. */
  declare end: ResponseEnd | undefined;
  /** The error the framework recorded for the request, read when the response ends. */
  declare errorOf: ((request: unknown) => unknown) | undefined;
  /** The exchange of a request scope the response was already in (two scopes nested), ended after this one. */
  declare outer: Exchange | undefined;
  /** The `waitUntil` option. */
  declare waitUntil: ((pending: Promise<void>, request: unknown) => void) | undefined;
  /** Set once the scope's `end` has run: a second call (from the flush, or the route again) goes straight through. */
  declare ending: boolean;
  /** Whether the exchange is stored on its response and counted in `openStoredStates`. */
  declare stored: boolean;

  // The fields are declared, and set here rather than with initializers: V8 defines a class field as a new
  // own property (a slower store than an assignment), and one exchange is made per request (on Node 20 the
  // initializers were about 500 instructions of a request's 4,500).
  constructor(/** When the request's background events are delivered. */ readonly flushMode: FlushMode) {
    super('request');
    this.runId = undefined;
    this.dormant = undefined;
    this.ended = RESOLVED;
    this.resolveEnded = undefined;
    this.entered = false;
    this.settled = false;
    this.controller = undefined;
    this.abortReason = undefined;
    this.observed = true;
    this.resolveOutcome = undefined;
    this.rejectOutcome = undefined;
    this.status = -1;
    this.failure = undefined;
    this.method = '';
    this.url = '';
    this.body = noop;
    this.onUnstarted = noop;
    this.request = undefined;
    this.end = undefined;
    this.errorOf = undefined;
    this.outer = undefined;
    this.waitUntil = undefined;
    this.ending = false;
    this.stored = false;
  }

  /** The executor of the body's promise: shared, so no function is made per request. */
  private static captureOutcome(this: void, resolve: (output: RequestRunOutput) => void, reject: (error: unknown) => void): void {
    const exchange = Exchange.capturing as Exchange;
    exchange.resolveOutcome = resolve;
    exchange.rejectOutcome = reject;
  }

  /** The executor of `ended` for a run nobody observes: shared, like {@link Exchange.captureOutcome}. */
  private static captureEnded(this: void, resolve: () => void): void {
    (Exchange.capturing as Exchange).resolveEnded = resolve;
  }

  /** Enters the body of a run nobody observes, inside its scope. */
  private static enterBody(this: void, exchange: Exchange, scope: RunScope): void {
    exchange.begin(scope);
  }

  /** Enters the body of a dormant root run (see {@link Exchange.start}), inside its scope. */
  private static enterDormant(this: void, exchange: Exchange): void {
    exchange.entered = true;
    exchange.observed = false;
    exchange.runBody();
  }

  /** The run's body starts, in `scope`, the run's own: the route goes on. */
  private begin(scope: RunScope): void {
    this.entered = true;
    this.runId = scope.callbacks.parentRunId;
    this.observed = scope.callbacks.handlerSet.handlers.length > 0;
    this.runBody();
  }

  /**
   * Starts the request's run with `config` (see {@link startRequestRun}). When the run's scope has handlers,
   * or a signal the run watches, it is run as any observed run: start event, body, end or error event. When
   * nobody observes it (no handler anywhere, the usual case for a server without per-request handlers) it has
   * no event to send and nothing to wait for, as any unobserved run ({@link executeRun}): its body, the rest
   * of the request, runs straight in its scope, which carries the run for everything started there. Such a
   * request makes no promise at all when the route ends the response before its body returns; otherwise
   * `ended` is made then, and settles when the outcome is decided.
   */
  start(config: RunnableConfig | undefined, inherited: RunScope | undefined): void {
    // A request with nothing of its own, served outside any run: a dormant root, whose id is made only if
    // something reads it (a run started by the route, `getCurrentConfig().callbacks.parentRunId`).
    const dormant = config === undefined && inherited === undefined ? openDormantRoot(this, this.name) : undefined;
    if (dormant !== undefined) {
      this.dormant = dormant.callbacks;
      this.enterUnobserved(dormant, Exchange.enterDormant);
      return;
    }
    let scope: RunScope;
    try {
      scope = openScope(this, config, inherited, true);
    } catch (error) {
      // A ConfigError, or a LostCallbacksError in 'explicit' mode: the run did not start.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- that error, unchanged
      this.watch(Promise.reject(error));
      return;
    }
    if (watchedSignal(scope) !== undefined || scope.callbacks.handlerSet.handlers.length > 0) {
      this.watch(executeObservedRun(this, undefined, scope));
      return;
    }
    this.enterUnobserved(scope, Exchange.enterBody);
  }

  /** Runs the body of a run nobody observes in `scope`, with `enter`; `ended` is made if the outcome is still open after. */
  private enterUnobserved(scope: RunScope, enter: (exchange: Exchange, scope: RunScope) => void): void {
    try {
      currentBackend<RunScope>().with(scope, enter, this, scope);
    } catch (error) {
      // The adapters' bodies report their own failures; one that throws anyway ends the run with its error.
      this.fail(error);
    }
    if (!this.settled) {
      Exchange.capturing = this;
      this.ended = new Promise<void>(Exchange.captureEnded);
      Exchange.capturing = undefined;
    }
  }

  /**
   * The adapter's continuation, called once, inside the run. By default it calls (and lets go of) `body`.
   * Subclasses that override it should let go of what they hold too: the run's context, which reaches this
   * exchange through the scope's deferred signal on Node 20, stays alive after the request in whatever
   * captured it, such as the connection's keep-alive timer (re-armed in `res.end()`, inside the run), until
   * that connection's next request. Holding the continuation, every open connection kept its last request
   * alive through minor GCs.
   */
  protected runBody(): void {
    const body = this.body;
    this.body = noop;
    body();
  }

  /**
   * The run ended before its body could start (a `raiseError` handler failing the start event, or the client
   * gone already), with `error`: the adapter passes it on to the framework. By default, `onUnstarted`.
   */
  protected unstarted(error: unknown): void {
    this.onUnstarted(error);
  }

  /** Sets the run's name and request line; called once, by {@link startRequestRun}. */
  describe(runName: string, method: string, url: string): void {
    this.name = runName;
    this.method = method;
    this.url = url;
  }

  /** Watches the run's promise: records its end, and tells the adapter when the run ended before its body. */
  private watch(invoked: Promise<RequestRunOutput>): void {
    this.ended = invoked.then(noop, (error: unknown) => {
      if (!this.entered) this.unstarted(error);
    });
  }

  /** The request's signal, made on first read; aborted when the client goes away before the response ends. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Whether the client went away before the response ended. */
  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  /** The request's signal, for the run's scope (see `deferSignal`). */
  _makeSignal(): AbortSignal {
    return this.signal;
  }

  /** The start event is the first moment the run's id is known (handlers see it before the body starts). */
  override _emitStart(scope: RunScope, _input: RequestRunInput | undefined): Promise<void> | undefined {
    this.runId = scope.callbacks.parentRunId;
    return super._emitStart(scope, { method: this.method, url: this.url });
  }

  /** The run's body: starts the route in the run's context (`scope`, the run's own). */
  override _invoke(_input: RequestRunInput | undefined, config: RunnableConfig): Promise<RequestRunOutput> {
    // The body always receives the run's own scope (see executeRun).
    const scope = config as RunScope;
    if (this.abortReason !== undefined) {
      // The client went away while a start handler ran: nothing starts under an aborted run.
      return Promise.reject(new AbortError(this.name, this.abortReason));
    }
    this.begin(scope);
    if (this.settled) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the route's own error, unchanged
      return this.status >= 0 ? Promise.resolve({ status: this.status }) : Promise.reject(this.failure);
    }
    Exchange.capturing = this;
    const outcome = new Promise<RequestRunOutput>(Exchange.captureOutcome);
    Exchange.capturing = undefined;
    return outcome;
  }

  /** The response ended with `status`: the run ends with `{ status }`. */
  finish(status: number): void {
    if (this.settled) return;
    this.settled = true;
    if (this.resolveOutcome !== undefined) this.resolveOutcome({ status });
    else this.status = status;
    this.resolveEnded?.();
  }

  /** The route failed: the run ends with an error event for `error`. */
  fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    if (this.rejectOutcome !== undefined) this.rejectOutcome(error);
    else this.failure = error;
    this.resolveEnded?.();
  }

  /** The client went away before the response ended: the run tree is cancelled, with an `AbortError`. */
  abort(): void {
    if (this.settled) return;
    this.settled = true;
    const reason = clientGone();
    this.abortReason = reason;
    // Runs below see the signal abort (and end first: they subscribed to it); the request run itself ends
    // with the same error raceAbort would give it, whether or not it watches the signal.
    this.controller?.abort(reason);
    // Before the body's promise exists, _invoke() (if the body has not started) or the settled state does it.
    const error = new AbortError(this.name, reason);
    if (this.rejectOutcome !== undefined) this.rejectOutcome(error);
    else this.failure = error;
    this.resolveEnded?.();
  }

  /** Whether the outcome of the request is decided (finished, failed or aborted). */
  get decided(): boolean {
    return this.settled;
  }

  /**
   * Whether the response may end at once with `'before-response'`: the run's body has started, the request
   * run reports to no handler (its end adds no event), and no background event of its tree is waiting or in
   * flight, so there is nothing to deliver first.
   */
  get nothingToFlush(): boolean {
    if (!this.entered || this.observed) return false;
    const runId = this.knownRunId;
    return runId === undefined || !backgroundPending(runId);
  }

  /**
   * The request run's id if it is known: {@link Exchange.runId}, or for a dormant root the id something read
   * (a run below it), `undefined` while nothing has. A run whose id nobody read has no event anywhere.
   */
  get knownRunId(): string | undefined {
    return this.runId ?? (this.dormant === undefined ? undefined : knownRunId(this.dormant));
  }

  /** Resolves when the run has ended and, unless the flush mode is `'none'`, its background events are delivered. */
  flushed(): Promise<void> {
    if (this.flushMode === 'none') return this.ended;
    // A run that never started sent no event: nothing of its own to deliver.
    return this.ended.then(() => {
      const runId = this.knownRunId;
      return runId === undefined ? undefined : flushCallbacks(runId);
    });
  }
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** How many default run names {@link defaultRunName} keeps before it starts over. */
const RUN_NAMES_KEPT = 512;
/** Default run names by method, then by URL as the request line has it: `GET` → `/chat?x=1` → `'GET /chat'`. */
const runNames = new Map<string, Map<string, string>>();
let runNamesKept = 0;

/**
 * `'METHOD /path'`, kept for the URLs seen last: a server answers the same few routes over and over, and the
 * name is then found rather than made (two strings per request otherwise). URLs are the client's to choose:
 * once {@link RUN_NAMES_KEPT} are kept, the names start over rather than grow.
 */
function defaultRunName(method: string, url: string): string {
  // Consecutive requests are mostly for the same route: the last name is checked first.
  if (url === lastRunName.url && method === lastRunName.method) return lastRunName.name;
  const name = keptRunName(method, url);
  lastRunName.method = method;
  lastRunName.url = url;
  lastRunName.name = name;
  return name;
}

/** The name {@link defaultRunName} returned last, and for which request line. */
const lastRunName = { method: '', url: '', name: '' };

/** The name of `method` and `url` from {@link runNames}, made and kept when missing. */
function keptRunName(method: string, url: string): string {
  let byUrl = runNames.get(method);
  const kept = byUrl?.get(url);
  if (kept !== undefined) return kept;
  const name = `${method} ${pathOf(url)}`;
  if (runNamesKept === RUN_NAMES_KEPT) {
    runNames.clear();
    runNamesKept = 0;
    byUrl = undefined;
  }
  if (byUrl === undefined) runNames.set(method, (byUrl = new Map<string, string>()));
  byUrl.set(url, name);
  runNamesKept++;
  return name;
}

/** The name of a request's run. @throws {@link ConfigError} when the `runName` option returns a bad value. */
function requestRunName<TRequest, TExtra extends unknown[]>(settings: ScopeSettings<TRequest, TExtra>, request: TRequest, method: string, url: string): string {
  const runName = settings.runName === undefined ? defaultRunName(method, url) : settings.runName(request);
  if (typeof runName !== 'string' || runName.length === 0) {
    throw new ConfigError('runName', runName, `Expected the \`runName\` option to return a non-empty string, got ${describeValue(runName)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  return runName;
}

/**
 * The config of a request's run, with only what the request has: `undefined` for a request with no handlers,
 * tags, metadata or signal of its own (the run's name is the runnable's), so that such a run reads and checks
 * no config at all.
 *
 * @throws {@link ConfigError} when an option's function returns a bad value.
 */
function requestConfig<TRequest, TExtra extends unknown[]>(
  settings: ScopeSettings<TRequest, TExtra>,
  request: TRequest,
  headers: IncomingHttpHeaders | Headers | undefined,
  exchange: Exchange,
  inherited: RunScope | undefined,
): RunnableConfig | undefined {
  const handlers = settings.handlers === undefined ? undefined : settings.handlers(request);
  if (handlers !== undefined && !Array.isArray(handlers)) {
    throw new ConfigError('handlers', handlers, `Expected the \`handlers\` option to return an array of handlers, got ${describeValue(handlers)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  let metadata = settings.metadata === undefined ? undefined : settings.metadata(request);
  if (metadata !== undefined && !isPlainObject(metadata)) {
    throw new ConfigError('metadata', metadata, `Expected the \`metadata\` option to return a plain object, got ${describeValue(metadata)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  let callbacks: readonly CallbackHandlerLike[] | CallbackManager | undefined =
    handlers === undefined || handlers.length === 0 ? undefined : (handlers as readonly CallbackHandlerLike[]);
  let tags = settings.tags;
  if (settings.propagate) {
    const extracted = extractRunContext(headers ?? {}, { handlers: callbacks ?? [] });
    callbacks = extracted.callbacks;
    if (extracted.tags !== undefined) tags = [...new Set([...extracted.tags, ...(tags ?? [])])];
    if (extracted.metadata !== undefined) metadata = { ...extracted.metadata, ...metadata };
  }
  // The request's signal is made when first read (see Exchange), unless the run needs it from its start: to
  // combine with a signal it inherits (a server started inside a run), or because the client is gone already.
  const signal = exchange.aborted || inherited?.signal !== undefined ? exchange.signal : undefined;
  if (callbacks === undefined && tags === undefined && metadata === undefined && signal === undefined) return undefined;
  const config: RunnableConfig = {};
  if (callbacks !== undefined) config.callbacks = callbacks;
  if (signal !== undefined) config.signal = signal;
  if (tags !== undefined) config.tags = tags;
  if (metadata !== undefined) config.metadata = metadata;
  return config;
}

/**
 * Starts the root run of one request. The exchange's continuation (`body`, when given, else its own
 * {@link Exchange.runBody}) runs inside the run (in its context), possibly before this returns; `onUnstarted`
 * (else {@link Exchange.unstarted}) is told when the run ended before its body could start (a `raiseError`
 * handler failing the start event, or the client gone already), so the adapter can pass the error on to the
 * framework.
 *
 * @param method - the request's method, as the request line has it.
 * @param url - path and query, as the request line has it: `/chat?x=1`.
 * @param headers - the request's headers, read only when `settings.propagate` is set (adapters pass them only
 *   then: reading `IncomingMessage.headers` builds them).
 * @throws {@link ConfigError} when an option's function returns a bad value, or whatever it throws.
 */
export function startRequestRun<TRequest, TExtra extends unknown[]>(
  exchange: Exchange,
  settings: ScopeSettings<TRequest, TExtra>,
  request: TRequest,
  method: string,
  url: string,
  headers: IncomingHttpHeaders | Headers | undefined,
  body?: () => void,
  onUnstarted?: (error: unknown) => void,
): void {
  if (body !== undefined) exchange.body = body;
  if (onUnstarted !== undefined) exchange.onUnstarted = onUnstarted;
  exchange.describe(requestRunName(settings, request, method, url), method, url);
  // The run started inside another (a server started in a run) is its child: read once, for its signal and scope.
  const inherited = currentBackend<RunScope>().active();
  const config = requestConfig(settings, request, headers, exchange, inherited);
  if (settings.propagate) withRemoteSpan(headers ?? {}, config?.callbacks, () => exchange.start(config, inherited));
  else exchange.start(config, inherited);
}

// Where a scoped response keeps its exchange. The functions below are shared by every response and find
// their request here through `this`: a function made per request that holds the response, stored on the
// response, made V8 (Node 24) keep whole finished requests alive through minor GCs (the young generation
// grew to 64 MB). A WeakMap instead of the property cost more still: every minor GC walks its entries.
const RESPONSE_SCOPE = Symbol('callscope.responseScope');

type ScopedResponse = ServerResponse & { [RESPONSE_SCOPE]?: Exchange };

/**
 * A response's `end` (`OutgoingMessage.prototype.end` or a middleware's): `(chunk?, encoding?, callback?)`.
 * The scope calls it with the arguments it was given, as many as were given (see {@link callEnd}).
 */
type ResponseEnd = (this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) => ServerResponse;

// The response whose request run is being started (see startServerRun), and its exchange. While its route
// runs synchronously, a response whose `end` is shared (Express's) is found here, and its exchange is stored
// on it only if the route returns with the response still open: adding a property to a response whose
// prototype Express swapped costs microseconds on Node 20 and 22 (about 4 µs of a 9 µs scope per request,
// profiled), and a route that answers at once never needs it.
let activeResponse: ServerResponse | undefined;
let activeExchange: Exchange | undefined;

// How many responses carry an exchange whose `end` has not run (or whose client has not gone): while there
// are none, a request scope starting needs not look for an outer one on its response (on Node 20 and 22
// reading a missing property of a response Express swapped the prototype of costs close to a microsecond
// under load).
let openStoredStates = 0;

/** Stores `exchange` on its response, where the shared functions find it once the route has returned. */
function storeExchange(res: ServerResponse, exchange: Exchange): void {
  (res as ScopedResponse)[RESPONSE_SCOPE] = exchange;
  exchange.stored = true;
  openStoredStates++;
}

/** The exchange's response is done with (ended, or its client gone): it no longer counts as open. */
function releaseExchange(exchange: Exchange): void {
  if (!exchange.stored) return;
  exchange.stored = false;
  openStoredStates--;
}

/** The exchange of a scoped response, or `undefined` (not scoped, or ended synchronously by its route). */
function exchangeOf(res: ServerResponse): Exchange | undefined {
  return res === activeResponse ? activeExchange : (res as ScopedResponse)[RESPONSE_SCOPE];
}

/** Prototypes whose `end` the scope replaced (see {@link startServerRun}): the `end` each had before, and the one put there. */
const SHARED_ENDS = new WeakMap<object, { readonly original: ResponseEnd; readonly scoped: ResponseEnd }>();

/** The prototype {@link sharedEndOn} was last asked about, and its entry of {@link SHARED_ENDS}. */
let lastPrototype: object | undefined;
let lastEnds: { readonly original: ResponseEnd; readonly scoped: ResponseEnd } | undefined;

/**
 * Calls `end` on `res` with the first `count` of `chunk`, `encoding` and `callback`: the arguments the scope's
 * `end` was called with, as many as there were (an `end` that counts its arguments sees the same count).
 * Spares the array a rest parameter makes on every response; `end` takes no more than three.
 */
function callEnd(end: ResponseEnd, res: ServerResponse, count: number, chunk: unknown, encoding: unknown, callback: unknown): ServerResponse {
  if (count === 0) return end.call(res);
  if (count === 1) return end.call(res, chunk);
  if (count === 2) return end.call(res, chunk, encoding);
  return end.call(res, chunk, encoding, callback);
}

/** The scoped response's 'close' listener: closed before it finished means the client went away. */
function onResponseClose(this: ServerResponse): void {
  if (this.writableFinished) return;
  for (let exchange = exchangeOf(this); exchange !== undefined; exchange = exchange.outer) {
    exchange.abort();
    releaseExchange(exchange);
  }
}

/** The `end` of a response scoped on its own (the scope replaced its own `end`). */
function endAfterRun(this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown): ServerResponse {
  // The count only (`arguments` is not copied): a rest parameter would make an array per response.
  return endScoped(exchangeOf(this) as Exchange, this, arguments.length, chunk, encoding, callback);
}

/** Ends the request's run first, and with 'before-response' holds the end until its events are delivered. */
function endScoped(exchange: Exchange, res: ServerResponse, count: number, chunk: unknown, encoding: unknown, callback: unknown): ServerResponse {
  if (exchange.ending) return endBelow(exchange, res, count, chunk, encoding, callback);
  exchange.ending = true;
  releaseExchange(exchange);
  const error = exchange.errorOf?.(exchange.request);
  if (error !== undefined) exchange.fail(error);
  else exchange.finish(res.statusCode);
  if (exchange.flushMode === 'before-response' && !exchange.nothingToFlush) {
    const flushed = exchange.flushed();
    void flushed.then(() => endBelow(exchange, res, count, chunk, encoding, callback));
    exchange.waitUntil?.(flushed, exchange.request);
    return res;
  }
  const result = endBelow(exchange, res, count, chunk, encoding, callback);
  if (exchange.waitUntil !== undefined) exchange.waitUntil(exchange.flushed(), exchange.request);
  return result;
}

/** Ends the response below `exchange`'s scope: through the outer scope (two nested), else with the `end` it replaced. */
function endBelow(exchange: Exchange, res: ServerResponse, count: number, chunk: unknown, encoding: unknown, callback: unknown): ServerResponse {
  const outer = exchange.outer;
  if (outer !== undefined) return endScoped(outer, res, count, chunk, encoding, callback);
  return callEnd(exchange.end as ResponseEnd, res, count, chunk, encoding, callback);
}

/**
 * Replaces `prototype.end`, once, with an `end` that ends the request's run of a scoped response first and
 * leaves every other response alone.
 */
function sharedEndOn(prototype: { end: ResponseEnd }): { readonly original: ResponseEnd; readonly scoped: ResponseEnd } {
  // Every request of an app passes the same prototype: the last one is kept, sparing the WeakMap lookup.
  if (prototype === lastPrototype && lastEnds !== undefined) return lastEnds;
  let shared = SHARED_ENDS.get(prototype);
  if (shared === undefined) {
    const original = prototype.end;
    const scoped = function scopedEnd(this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown): ServerResponse {
      const exchange = exchangeOf(this);
      // The count only (`arguments` is not copied): a rest parameter would make an array per response.
      const count = arguments.length;
      // A response not scoped, or whose run is already ending: reached again through a wrapper the scope's
      // own `end` called (a middleware that captured this `end` and wrapped the response's own).
      if (exchange === undefined || exchange.ending) return callEnd(original, this, count, chunk, encoding, callback);
      return endScoped(exchange, this, count, chunk, encoding, callback);
    };
    shared = { original, scoped };
    SHARED_ENDS.set(prototype, shared);
    prototype.end = scoped;
  }
  lastPrototype = prototype;
  lastEnds = shared;
  return shared;
}

/**
 * The prototype of `res` (`http.ServerResponse.prototype` for a plain server), for {@link startServerRun}'s
 * `sharedPrototype`: the scope puts its `end` there once for all responses (shadowing
 * `OutgoingMessage.prototype.end` for server responses only).
 */
export function responsePrototypeOf(res: ServerResponse): object | undefined {
  // A response that inherits the `end` put on the last prototype asked about inherits it from there: that
  // prototype serves (and Object.getPrototypeOf, a runtime call on Node 20, is spared).
  if (lastEnds !== undefined && res.end === lastEnds.scoped) return lastPrototype;
  const prototype = Object.getPrototypeOf(res) as { end?: unknown } | null;
  return prototype !== null && typeof prototype.end === 'function' ? prototype : undefined;
}

/**
 * Starts the root run of one request served on a Node `ServerResponse` (see {@link startRequestRun}) and ties
 * the run to the response: the run ends when the route ends the response (`res.end()`), with the error
 * `errorOf(request)` then reports if any; with `'before-response'` the end is held until the request's
 * background events are delivered; a response closed before it finished (the client went away) aborts the
 * run, at once if that happened before. The 'close' listener is added only when the route returned with the
 * outcome still open: a response its route ended at once never needs it. The exchange is the response's
 * state too: one object per request.
 *
 * @param method - the request's method; `url` its path and query; `headers` read only with `propagate`.
 * @param sharedPrototype - a prototype of the framework's responses (Express's `express.response`, else the
 *   response's own prototype, `http.ServerResponse.prototype` for a plain server): its `end` is replaced once
 *   for all of them instead of each response's own, which would add a property to every response (two, with
 *   its exchange), costly on objects with as many as a `ServerResponse` has. Used only when `res` inherits its
 *   `end` from there (no middleware wrapped the response's own `end`, no app overrides it in between).
 *   Responses of the process that are not scoped go through the replaced `end` unchanged.
 * @throws {@link ConfigError} when an option's function returns a bad value, or whatever it throws; the
 *   response is then left as it was.
 */
export function startServerRun<TRequest>(
  exchange: Exchange,
  settings: ScopeSettings<TRequest, []>,
  request: TRequest,
  res: ServerResponse,
  method: string,
  url: string,
  headers: IncomingHttpHeaders | undefined,
  errorOf?: (request: TRequest) => unknown,
  sharedPrototype?: object,
  body?: () => void,
  onUnstarted?: (error: unknown) => void,
): void {
  const scopedRes = res as ScopedResponse;
  const outer = res === activeResponse ? activeExchange : openStoredStates === 0 ? undefined : scopedRes[RESPONSE_SCOPE];
  exchange.request = request;
  exchange.errorOf = errorOf as ((request: unknown) => unknown) | undefined;
  exchange.waitUntil = settings.waitUntil as ((pending: Promise<void>, request: unknown) => void) | undefined;
  // What ends the response once this scope's run has ended: the outer scope (two request scopes nested), the
  // `end` the shared one replaced, or the response's own `end` before this scope replaced it.
  let ownEnd = false;
  if (outer !== undefined) exchange.outer = outer;
  else {
    const shared = sharedPrototype === undefined ? undefined : sharedEndOn(sharedPrototype as { end: ResponseEnd });
    // eslint-disable-next-line @typescript-eslint/unbound-method -- compared, then called with `this` (the response)
    const end = res.end as ResponseEnd;
    if (shared !== undefined && end === shared.scoped) exchange.end = shared.original;
    else {
      exchange.end = end;
      ownEnd = true;
    }
  }
  if (ownEnd || outer !== undefined) {
    // The response gets a property of its own anyway (or has one already): the exchange goes with it.
    if (ownEnd) res.end = endAfterRun as ServerResponse['end'];
    storeExchange(res, exchange);
  }
  const previousResponse = activeResponse;
  const previousExchange = activeExchange;
  activeResponse = res;
  activeExchange = exchange;
  try {
    startRequestRun(exchange, settings, request, method, url, headers, body, onUnstarted);
  } finally {
    activeResponse = previousResponse;
    activeExchange = previousExchange;
    // The route goes on after this returns (or the run did not start and the response ends later): from now on
    // the response leads to its exchange, unless a scope nested in this one put its own there (ended last).
    if (!exchange.ending && !exchange.stored && scopedRes[RESPONSE_SCOPE] === undefined) storeExchange(res, exchange);
  }
  // The outermost scope of a response listens for all (two request scopes nested: a scoped app under another).
  if (outer !== undefined || exchange.decided) return;
  // 'close' was emitted already: the client left before this scope began, or while its body ran.
  if (res.destroyed) onResponseClose.call(res);
  else res.on('close', onResponseClose);
}

/**
 * Runs a fetch-style handler as one request's run and returns its response, whose body (when it has one)
 * streams inside the run: the run ends when the body has been read to its end (with `'before-response'`,
 * the stream closes only after the request's background events are delivered), and a reader that cancels
 * the body, or `signal` aborting (the request's, when its client goes away), aborts the run.
 *
 * @param produce - the handler, called inside the run.
 * @param errorOf - an error the framework caught and turned into the response (Hono's `c.error`).
 * @throws whatever `produce` throws, after the run has ended with it.
 */
export async function runFetchExchange<TRequest, TExtra extends unknown[]>(
  settings: ScopeSettings<TRequest, TExtra>,
  request: TRequest,
  extra: TExtra,
  facts: RequestFacts,
  signal: AbortSignal | undefined,
  produce: () => Promise<Response> | Response,
  errorOf?: () => unknown,
): Promise<Response> {
  let resolveResponse: (response: Response) => void = noop;
  let rejectResponse: (error: unknown) => void = noop;
  const responded = new Promise<Response>((resolve, reject) => {
    resolveResponse = resolve;
    rejectResponse = reject;
  });
  const exchange = new Exchange(settings.flush);
  // Runs `fn` in the request run's context once its body has started (until then, in the caller's).
  let inRun: <T>(fn: () => T) => T = callThrough;
  let detach = noop;
  if (signal !== undefined) {
    if (signal.aborted) exchange.abort();
    else {
      const onAbort = (): void => exchange.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      detach = () => signal.removeEventListener('abort', onAbort);
    }
  }
  startRequestRun(
    exchange,
    settings,
    request,
    facts.method,
    facts.url,
    facts.headers,
    () => {
      inRun = bindToCurrentContext(callThrough);
      let result: Promise<Response> | Response;
      try {
        result = produce();
      } catch (error) {
        exchange.fail(error);
        rejectResponse(error);
        return;
      }
      Promise.resolve(result).then(resolveResponse, (error: unknown) => {
        exchange.fail(error);
        rejectResponse(error);
      });
    },
    rejectResponse,
  );
  void exchange.ended.then(detach);
  const response = await responded;
  const error = errorOf?.();
  if (error !== undefined || response.body === null) {
    if (error !== undefined) exchange.fail(error);
    else exchange.finish(response.status);
    const flushed = exchange.flushed();
    settings.waitUntil?.(flushed, request, ...extra);
    if (settings.flush === 'before-response') await flushed;
    return response;
  }
  let endOfBody: () => void = noop;
  // The body's end decides the run; the pending work handed to the platform follows it.
  const bodyEnded = new Promise<void>((resolve) => {
    endOfBody = resolve;
  });
  settings.waitUntil?.(bodyEnded.then(() => exchange.flushed()), request, ...extra);
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      let step: Awaited<ReturnType<typeof reader.read>>;
      try {
        // In the run's context: a body produced lazily (a stream's `pull`) runs inside the request's run.
        step = await inRun(() => reader.read());
      } catch (failure) {
        exchange.fail(failure);
        endOfBody();
        controller.error(failure);
        return;
      }
      if (step.done !== true) {
        controller.enqueue(step.value);
        return;
      }
      exchange.finish(response.status);
      endOfBody();
      if (settings.flush === 'before-response') await exchange.flushed();
      controller.close();
    },
    cancel: async (reason: unknown) => {
      exchange.abort();
      endOfBody();
      await reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
