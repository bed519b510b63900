import type { SpanContext } from '@opentelemetry/api';
import { validate as isUuid } from 'uuid';
import type { CallbackHandlerLike, RunnableConfig } from '../index';
import { ConfigError, CallbackManager, getCurrentConfig, describeValue, markRemote, nearestKey } from '../internal/for-integrations';
import { openRunSpans, rememberRemoteParent, tryLoadOpenTelemetry } from './internal/api';

/**
 * A fetch `Headers` object, or anything with the same `get` and `set`: where run context is read from or
 * written to, besides plain header objects.
 */
export interface HeadersLike {
  get(name: string): string | null;
  set(name: string, value: string): void;
}

/**
 * Where run context travels: a plain object of HTTP headers (Node's `req.headers`, the `headers` you pass
 * to `fetch`, a message's attributes; names are matched without regard to case) or a {@link HeadersLike}.
 */
export type RunContextCarrier = Record<string, string | string[] | undefined> | HeadersLike;

/** Options of {@link injectRunContext}. */
export interface InjectRunContextOptions {
  /**
   * The run whose context is written: the config a runnable body received.
   * @default getCurrentConfig(), the run active here
   */
  config?: RunnableConfig;
  /**
   * Metadata keys of the run to send in `baggage`, for those whose value is a string, number or boolean (the
   * receiving side gets them as strings). Baggage goes wherever the request goes: send only what may.
   * @default [] (none)
   */
  metadataKeys?: readonly string[];
  /** Send the run's tags in `baggage`. @default false */
  tags?: boolean;
}

/** Options of {@link extractRunContext}. */
export interface ExtractRunContextOptions {
  /** Handlers for the runs started with the returned config, such as an `OpenTelemetryTracer`. @default [] */
  handlers?: readonly CallbackHandlerLike[];
  /**
   * Metadata keys to accept from `baggage`; the caller may send anything, so name what you trust.
   * @default undefined (every `callscope.metadata.*` entry)
   */
  metadataKeys?: readonly string[];
  /** Accept tags from `baggage`. @default true */
  tags?: boolean;
}

/** What {@link extractRunContext} returns: a config whose `callbacks` names the caller's run as parent. */
export interface ExtractedRunConfig extends RunnableConfig {
  /** The handlers given, with `parentRunId` set to the caller's run id when the carrier named a valid one. */
  readonly callbacks: CallbackManager;
}

const RUN_ID_KEY = 'callscope.run_id';
const TAGS_KEY = 'callscope.tags';
const METADATA_PREFIX = 'callscope.metadata.';
// The W3C Baggage limit for a whole header, which intermediaries may enforce by dropping it.
const MAX_BAGGAGE_LENGTH = 8192;
// RFC 7230 token: what a W3C Baggage key may be.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);

/**
 * Writes the current run's context into outgoing request headers, so that runs started by the receiving
 * process (with {@link extractRunContext}) become its children: W3C `traceparent` (and `tracestate`) for
 * the span of the run when an `OpenTelemetryTracer` has one open, else for the OpenTelemetry span active
 * here, if any; and W3C `baggage` with `callscope.run_id=<run id>`, plus `callscope.tags` (a JSON array)
 * and `callscope.metadata.<key>` entries when allowed. Values are percent-encoded as the Baggage spec asks;
 * baggage already in the carrier is kept (entries with the same keys replaced), and entries that would
 * take the header past 8,192 characters are left out. Without `@opentelemetry/api` installed, only
 * `baggage` is written.
 *
 * @param carrier - the headers to write into (a plain object or a fetch `Headers`); changed in place.
 * @param options - see {@link InjectRunContextOptions}.
 * @returns `carrier`.
 * @throws {@link ConfigError} when `carrier` or an option is not what is expected.
 * @example
 * ```ts
 * const search = tool(async ({ query }) => {
 *   const response = await fetch('http://search.internal/run', {
 *     method: 'POST',
 *     headers: injectRunContext({ 'content-type': 'application/json' }),
 *     body: JSON.stringify({ query }),
 *   });
 *   return response.text();
 * }, { name: 'search', description: 'Searches the index', schema: z.object({ query: z.string() }) });
 * ```
 */
export function injectRunContext<TCarrier extends HeadersLike>(carrier: TCarrier, options?: InjectRunContextOptions): TCarrier;
export function injectRunContext<TCarrier extends Record<string, string | string[] | undefined>>(
  carrier: TCarrier,
  options?: InjectRunContextOptions,
): TCarrier & Record<string, string>;
export function injectRunContext(carrier: RunContextCarrier, options: InjectRunContextOptions = {}): RunContextCarrier {
  assertCarrier(carrier, 'injectRunContext');
  const { config, metadataKeys, tags } = validateInjectOptions(options);
  const callbacks = config?.callbacks;
  const runId = callbacks instanceof CallbackManager ? callbacks.parentRunId : undefined;

  const spanContext = currentSpanContext(runId);
  if (spanContext !== undefined) {
    setHeader(carrier, 'traceparent', formatTraceparent(spanContext));
    const traceState = spanContext.traceState?.serialize();
    if (traceState) setHeader(carrier, 'tracestate', traceState);
  }

  const entries: [string, string][] = [];
  if (runId !== undefined) entries.push([RUN_ID_KEY, runId]);
  if (tags && config?.tags !== undefined && config.tags.length > 0) entries.push([TAGS_KEY, JSON.stringify(config.tags)]);
  for (const key of metadataKeys) {
    const value = config?.metadata?.[key];
    const wanted = typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
    if (wanted && TOKEN.test(METADATA_PREFIX + key)) entries.push([METADATA_PREFIX + key, String(value)]);
  }
  if (entries.length === 0) return carrier;
  const written = new Set(entries.map(([key]) => key));
  // Baggage set by someone else (OpenTelemetry's propagator, the application) stays; ours replaces our keys.
  const kept = splitMembers(getHeader(carrier, 'baggage')).filter((member) => !written.has(memberKey(member)));
  let header = kept.join(',');
  for (const [key, value] of entries) {
    const member = `${key}=${encodeURIComponent(value)}`;
    const next = header === '' ? member : `${header},${member}`;
    if (next.length > MAX_BAGGAGE_LENGTH) continue;
    header = next;
  }
  setHeader(carrier, 'baggage', header);
  return carrier;
}

/**
 * Reads the run context {@link injectRunContext} wrote into a request's headers, and returns a config that
 * makes runs started with it children of the caller's run: in callscope's run tree (`callbacks` is a
 * `CallbackManager` whose `parentRunId` is the caller's run id, with `options.handlers`), and in the trace
 * (an `OpenTelemetryTracer` in this process parents the first local span under the caller's span from
 * `traceparent`). Tags and metadata sent in `baggage` come back as `tags` and `metadata` (metadata values
 * as strings). Pass the config to `invoke`, or spread it into yours, keeping its `callbacks`.
 *
 * Headers are untrusted input, and a malformed one never fails the request: a missing or invalid
 * `traceparent` gives a config without a remote span (the spans start a trace of their own, or join the
 * span active here); a missing or invalid `callscope.run_id` one without a parent run (the runs are root
 * runs); an undecodable baggage entry is skipped. Each of these is reported through OpenTelemetry's
 * `diag` logger (`diag.setLogger(...)` to see them); OpenTelemetry's own propagators ignore malformed
 * headers the same way.
 *
 * How the trace link works: the caller's span is remembered, keyed by the caller's run id, in a registry
 * that `OpenTelemetryTracer` consults for a run whose parent run it does not know. It keeps the 10,000
 * most recently extracted callers, forgetting the oldest first, so it stays bounded in a long-lived server.
 *
 * @param carrier - the incoming headers: Node's `req.headers`, a fetch `Headers`, or a plain object.
 * @param options - see {@link ExtractRunContextOptions}.
 * @returns a config to pass to `invoke`.
 * @throws {@link ConfigError} when `carrier` is not an object, or an option is not what is expected.
 * @example
 * ```ts
 * http.createServer(async (req, res) => {
 *   const config = extractRunContext(req.headers, { handlers: [new OpenTelemetryTracer()] });
 *   res.end(await search.invoke(await readBody(req), config));
 * });
 * ```
 */
export function extractRunContext(carrier: RunContextCarrier, options: ExtractRunContextOptions = {}): ExtractedRunConfig {
  assertCarrier(carrier, 'extractRunContext');
  const { handlers, metadataKeys, tags: acceptTags } = validateExtractOptions(options);
  const api = tryLoadOpenTelemetry();
  const warn = (message: string): void => api?.diag.warn(`callscope extractRunContext: ${message}`);

  const baggage = new Map<string, string>();
  for (const member of splitMembers(getHeader(carrier, 'baggage'))) {
    const key = memberKey(member);
    if (!key.startsWith('callscope.')) continue;
    const raw = member.slice(member.indexOf('=') + 1).split(';')[0]?.trim() ?? '';
    try {
      baggage.set(key, decodeURIComponent(raw));
    } catch {
      warn(`skipped the baggage entry \`${key}\`, whose value is not valid percent-encoding.`);
    }
  }

  let parentRunId = baggage.get(RUN_ID_KEY);
  if (parentRunId !== undefined && !isCallerRunId(parentRunId)) {
    warn(`ignored \`${RUN_ID_KEY}\` in baggage, which is not a UUID of a run (the nil and max UUIDs name none): runs start as root runs.`);
    parentRunId = undefined;
  }

  let remoteSpan: SpanContext | undefined;
  const traceparent = getHeader(carrier, 'traceparent');
  if (traceparent !== undefined) {
    const spanContext = parseTraceparent(traceparent, getHeader(carrier, 'tracestate'));
    if (spanContext === undefined) warn('ignored an invalid `traceparent` header: spans will not join the caller\'s trace.');
    else if (parentRunId === undefined) {
      warn(`no \`${RUN_ID_KEY}\` in baggage to attach the caller's span to; use OpenTelemetry's propagation.extract() for requests from non-callscope callers.`);
    } else {
      remoteSpan = spanContext;
      rememberRemoteParent(parentRunId, spanContext);
    }
  }

  const callbacks = new CallbackManager(handlers, { parentRunId });
  // The caller's run is in another process: runs started with this manager are roots here (their own flush
  // key; no tracer attaches them to a local run, whatever id the caller sent), under the caller's span.
  if (parentRunId !== undefined) markRemote(callbacks, { runId: parentRunId, spanContext: remoteSpan });
  const config: { callbacks: CallbackManager; tags?: string[]; metadata?: Record<string, string> } = { callbacks };
  const tagsValue = acceptTags ? baggage.get(TAGS_KEY) : undefined;
  if (tagsValue !== undefined) {
    const parsed = parseTags(tagsValue);
    if (parsed === undefined) warn(`ignored \`${TAGS_KEY}\` in baggage, which is not a JSON array of strings.`);
    else if (parsed.length > 0) config.tags = parsed;
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of baggage) {
    if (!key.startsWith(METADATA_PREFIX)) continue;
    const name = key.slice(METADATA_PREFIX.length);
    // defineProperty: a `__proto__` key is data from the header, never the object's prototype.
    if (name !== '' && (metadataKeys === undefined || metadataKeys.includes(name))) {
      Object.defineProperty(metadata, name, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  if (Object.keys(metadata).length > 0) config.metadata = metadata;
  return config;
}

/**
 * The caller's span from a carrier's `traceparent` (and `tracestate`), or `undefined` when there is none or it
 * is invalid. For `callscope/http`, whose request scope continues the trace of callers that send no run id.
 *
 * @internal
 */
export function remoteSpanContextOf(carrier: RunContextCarrier): SpanContext | undefined {
  const traceparent = getHeader(carrier, 'traceparent');
  return traceparent === undefined ? undefined : parseTraceparent(traceparent, getHeader(carrier, 'tracestate'));
}

/** The span to propagate: the run's own, else the one active in OpenTelemetry's context. */
function currentSpanContext(runId: string | undefined): SpanContext | undefined {
  const runSpan = runId === undefined ? undefined : openRunSpans.get(runId);
  const api = tryLoadOpenTelemetry();
  if (api === undefined) return undefined;
  const spanContext = runSpan?.spanContext() ?? api.trace.getSpanContext(api.context.active());
  return spanContext !== undefined && api.isSpanContextValid(spanContext) ? spanContext : undefined;
}

function formatTraceparent(spanContext: SpanContext): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-${(spanContext.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

// W3C Trace Context, "traceparent Header Field Values": lowercase hex, version ff forbidden, version 00 with
// exactly four fields, later versions may append fields; all-zero trace and span ids are invalid.
function parseTraceparent(value: string, tracestate: string | undefined): SpanContext | undefined {
  const match = TRACEPARENT.exec(value.trim());
  if (match === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === INVALID_TRACE_ID || spanId === INVALID_SPAN_ID) return undefined;
  const spanContext: SpanContext = { traceId, spanId, traceFlags: parseInt(flags, 16), isRemote: true };
  const api = tryLoadOpenTelemetry();
  if (tracestate !== undefined && tracestate.trim() !== '' && api !== undefined) spanContext.traceState = api.createTraceState(tracestate);
  return spanContext;
}

function parseTags(value: string): string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(value);
    if (Array.isArray(parsed) && parsed.every((tag) => typeof tag === 'string')) return parsed;
  } catch {
    // Not JSON: treated as invalid below.
  }
  return undefined;
}

function splitMembers(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header
    .split(',')
    .map((member) => member.trim())
    .filter((member) => member.includes('=') && TOKEN.test(memberKey(member)));
}

function memberKey(member: string): string {
  return member.slice(0, member.indexOf('=')).trim();
}

// A UUID that can name a run: uuid's validate() also accepts the nil and max UUIDs, which name none.
function isCallerRunId(value: string): boolean {
  return isUuid(value) && !/^0{8}-0{4}-0{4}-0{4}-0{12}$/.test(value) && !/^f{8}-f{4}-f{4}-f{4}-f{12}$/i.test(value);
}

function isHeadersLike(carrier: RunContextCarrier): carrier is HeadersLike {
  return typeof (carrier as Partial<HeadersLike>).get === 'function' && typeof (carrier as Partial<HeadersLike>).set === 'function';
}

// HTTP header names are case-insensitive; Node lower-cases incoming ones, but a hand-built object may not.
function findKey(carrier: Record<string, unknown>, name: string): string | undefined {
  if (Object.prototype.hasOwnProperty.call(carrier, name)) return name;
  return Object.keys(carrier).find((key) => key.toLowerCase() === name);
}

function getHeader(carrier: RunContextCarrier, name: string): string | undefined {
  try {
    return readHeader(carrier, name);
  } catch (error) {
    // A carrier whose getter or `get()` throws is not a headers object this code can read.
    throw new ConfigError('carrier', carrier, `Could not read the \`${name}\` header from the carrier: reading it threw ${describeValue(error)}. Pass \`req.headers\`, a fetch \`Headers\` or a plain object.`, {
      code: 'INVALID_ARGUMENT',
      cause: error,
    });
  }
}

function readHeader(carrier: RunContextCarrier, name: string): string | undefined {
  if (isHeadersLike(carrier)) {
    const value: unknown = carrier.get(name);
    return typeof value === 'string' ? value : undefined;
  }
  const key = findKey(carrier, name);
  const value: unknown = key === undefined ? undefined : carrier[key];
  if (typeof value === 'string') return value;
  // Node gives repeated headers as arrays, to be read as one comma-separated list: fine for baggage, and
  // for traceparent (which must not repeat) a value that fails to parse, as it should.
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value.join(',');
  return undefined;
}

function setHeader(carrier: RunContextCarrier, name: string, value: string): void {
  if (isHeadersLike(carrier)) carrier.set(name, value);
  else carrier[findKey(carrier, name) ?? name] = value;
}

function assertCarrier(carrier: unknown, where: string): asserts carrier is RunContextCarrier {
  if (carrier === null || typeof carrier !== 'object' || Array.isArray(carrier)) {
    throw new ConfigError(
      'carrier',
      carrier,
      `Expected ${where}() to receive a headers object (such as \`req.headers\`, a fetch \`Headers\` or a plain object), got ${describeValue(carrier)}.`,
      { code: 'INVALID_ARGUMENT' },
    );
  }
}

function fail(field: string, received: unknown, expected: string): never {
  throw new ConfigError(field, received, `Expected \`${field}\` to be ${expected}, got ${describeValue(received)}.`, { code: 'INVALID_ARGUMENT' });
}

function assertOptions(options: unknown, where: string, known: readonly string[]): asserts options is Record<string, unknown> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) fail('options', options, 'an object');
  const unknown = Object.keys(options).find((key) => !known.includes(key));
  if (unknown !== undefined) {
    const near = nearestKey(unknown, known);
    const hint = near === undefined ? '' : ` Did you mean \`${near}\`?`;
    throw new ConfigError(unknown, (options as Record<string, unknown>)[unknown], `Unknown option \`${unknown}\` in ${where}() options.${hint} Expected only: ${known.join(', ')}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
}

function assertStringList(value: unknown, field: string): asserts value is readonly string[] | undefined {
  if (value !== undefined && !(Array.isArray(value) && value.every((item) => typeof item === 'string'))) fail(field, value, 'an array of strings');
}

function validateInjectOptions(options: unknown): { config: RunnableConfig | undefined; metadataKeys: readonly string[]; tags: boolean } {
  assertOptions(options, 'injectRunContext', ['config', 'metadataKeys', 'tags']);
  const { config, metadataKeys, tags } = options;
  if (config !== undefined && (config === null || typeof config !== 'object' || Array.isArray(config))) fail('config', config, 'a RunnableConfig object');
  assertStringList(metadataKeys, 'metadataKeys');
  if (tags !== undefined && typeof tags !== 'boolean') fail('tags', tags, 'a boolean');
  return { config: (config) ?? getCurrentConfig(), metadataKeys: metadataKeys ?? [], tags: tags ?? false };
}

function validateExtractOptions(options: unknown): {
  handlers: readonly CallbackHandlerLike[];
  metadataKeys: readonly string[] | undefined;
  tags: boolean;
} {
  assertOptions(options, 'extractRunContext', ['handlers', 'metadataKeys', 'tags']);
  const { handlers, metadataKeys, tags } = options;
  // The CallbackManager built from them checks each handler.
  if (handlers !== undefined && !Array.isArray(handlers)) fail('handlers', handlers, 'an array of handlers');
  assertStringList(metadataKeys, 'metadataKeys');
  if (tags !== undefined && typeof tags !== 'boolean') fail('tags', tags, 'a boolean');
  return { handlers: (handlers as readonly CallbackHandlerLike[] | undefined) ?? [], metadataKeys, tags: tags ?? true };
}
