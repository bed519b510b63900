import type { z } from 'zod';
import { CallbackManager } from '../callbacks/callback-manager';
import { type HandlerSet, NO_HANDLERS } from '../callbacks/dispatch';
import type { CallbackHandler, CallbackHandlerLike } from '../callbacks/handler';
import { ConfigError, describeValue } from '../errors';
import type { LongTimeout } from '../internal/timers';
import { lazySchema, nearestKey, parseOrThrow } from '../internal/validation';
import { newRunId } from '../internal/run-id';
import { loadUuid } from '../platform';
import { fromLangChainManager, isLangChainManager, type LangChainManagerLike } from '../callbacks/foreign-manager';
import { rememberRemoteRun, type RemoteParent } from '../propagation/remote';
import { onAbort } from './cancellation';

/**
 * Handlers for a run: a list of handlers, or a {@link CallbackManager} (which also names a parent run), or
 * the `callbacks` of a config LangChain.js passed to your function (its handlers and run are used).
 */
export type Callbacks = readonly CallbackHandlerLike[] | CallbackManager | LangChainManagerLike;

/**
 * Options for one call of a runnable. Everything but `runName` and `runId` is inherited by the runs started
 * inside it: through context in the implicit propagation modes, through the `config` argument your function
 * receives in every mode.
 */
export interface RunnableConfig {
  /** Handlers for this run and every run below it. */
  callbacks?: Callbacks;
  /** Tags for this run and every run below it; inherited tags and these are unioned. */
  tags?: readonly string[];
  /** Metadata for this run and every run below it; merged with inherited metadata, these keys winning. */
  metadata?: Record<string, unknown>;
  /** Name of this run in handlers and traces. Not inherited. @default the runnable's name */
  runName?: string;
  /** Id of this run, a UUID. Not inherited. @default a new UUIDv7 */
  runId?: string;
  /** Aborting it cancels this run and every run below it. */
  signal?: AbortSignal;
  /** How many inputs `batch` runs at once. @default unbounded */
  maxConcurrency?: number;
  /** Free-form values for your runnables to read, inherited and merged like `metadata`. */
  configurable?: Record<string, unknown>;
  /**
   * Deadline in milliseconds for this run and every run below it: when it passes, they reject with
   * `RunTimeoutError`, as if `signal` had aborted. A nested run's own `timeout` can only shorten it.
   */
  timeout?: number;
}

/**
 * The config a runnable body receives and the value kept in context while it runs: the inherited part of
 * its run's config, with `callbacks` naming the run as parent. Built only by callscope, so it is trusted
 * without validation when passed back in.
 */
export class RunScope implements RunnableConfig {
  constructor(
    /** Handlers, with `parentRunId` set to the run this scope belongs to. */
    readonly callbacks: CallbackManager,
    readonly tags: readonly string[],
    readonly metadata: Readonly<Record<string, unknown>>,
    readonly signal: AbortSignal | undefined,
    readonly configurable: Readonly<Record<string, unknown>> | undefined,
    readonly maxConcurrency: number | undefined,
    /** @internal The parent of the run this scope belongs to (the run itself is `callbacks.parentRunId`). */
    readonly _parentRunId?: string,
    /** @internal The name of the run this scope belongs to. */
    readonly _runName?: string,
    /** @internal The root of the run tree, for `flushCallbacks`. */
    readonly _rootRunId?: string,
    /** @internal The scope of the parent run, whose open children this run counts among. */
    readonly _owner?: RunScope,
    /** @internal The timer of this run's own `timeout`, cleared when the run ends. */
    readonly _deadline?: LongTimeout,
  ) {}

  /** @internal Set when the run has ended: later events for it are refused. */
  _ended = false;
  /** @internal Children started in this run that have not ended yet. */
  _openChildren = 0;
  /** @internal Wakes this run, cancelled, when its last open child has ended. */
  _childrenSettled: (() => void) | undefined = undefined;
  /**
   * @internal On a run's scope: the tags runs started under it inherit, when they differ from `tags` (the
   * run was given tags of its own by a composition, such as `map:key:x`, which LangChain does not pass on).
   */
  _inheritTags: readonly string[] | undefined = undefined;
  /** @internal On a run's scope: the handlers runs started under it inherit, when they differ (listeners). */
  _inheritHandlers: HandlerSet | undefined = undefined;
  /**
   * @internal On a scope made by {@link tagNextRun}: tags for the one run opened from it, not inherited
   * further, and the run scope it was derived from (whose open children that run counts among).
   */
  _nextRunTags: readonly string[] | undefined = undefined;
  /** @internal See {@link RunScope._nextRunTags}. */
  _source: RunScope | undefined = undefined;
  /**
   * @internal On a scope {@link mergeScope} built for a new run: set when the run's parent is in another
   * process (a config from `extractRunContext`). The run becomes a root of its own here.
   */
  _remote: RemoteParent | undefined = undefined;
  /**
   * @internal What to release when the run ends: the subscriptions of a signal linked for it (see
   * {@link linkSignals}), its entry among remote-parented runs. On a scope `mergeScope` built, handed over
   * to the run by {@link childScope}.
   */
  _release: (() => void) | undefined = undefined;
  /**
   * @internal Set on the scope of a run whose `signal` its target made (see {@link deferSignal}): the run does
   * not watch that signal itself ({@link watchedSignal}); whoever aborts it also ends the run.
   */
  _signalUnwatched = false;
}

/**
 * The config a composition passes to one of its children so that the child's run carries `tags` of its own
 * (`map:key:a`, `retry:attempt:2`, `condition:1`) without the runs below it inheriting them, as LangChain's
 * `runManager.getChild(tag)` does. `signal` replaces the scope's signal when given (it must already include
 * it). The child still counts among the open children of `scope`'s run.
 *
 * @internal
 */
export function tagNextRun(scope: RunScope, tags: readonly string[] | undefined, signal?: AbortSignal): RunScope {
  if (tags === undefined && (signal === undefined || signal === scope.signal)) return scope;
  const derived = new RunScope(
    scope.callbacks,
    scope.tags,
    scope.metadata,
    signal ?? scope.signal,
    scope.configurable,
    scope.maxConcurrency,
    scope._parentRunId,
    scope._runName,
    scope._rootRunId,
    scope._owner,
    undefined,
  );
  derived._inheritTags = scope._inheritTags;
  derived._inheritHandlers = scope._inheritHandlers;
  derived._nextRunTags = tags;
  derived._source = scope._source ?? scope;
  derived._ended = scope._ended;
  return derived;
}

/** The tags runs started under `scope`'s run inherit. @internal */
export function inheritableTags(scope: RunScope): readonly string[] {
  return scope._inheritTags ?? scope.tags;
}

/** The handlers runs started under `scope`'s run inherit. @internal */
export function inheritableHandlers(scope: RunScope): HandlerSet {
  return scope._inheritHandlers ?? scope.callbacks.handlerSet;
}

/** A validated user config: what {@link normalizeConfig} returns. */
export interface NormalizedConfig {
  readonly handlers: HandlerSet | undefined;
  /** Set when `callbacks` was a CallbackManager with a parent run: the run to attach to. */
  readonly parentRunId: string | undefined;
  readonly tags: readonly string[] | undefined;
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
  readonly runName: string | undefined;
  readonly runId: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly maxConcurrency: number | undefined;
  readonly configurable: Readonly<Record<string, unknown>> | undefined;
  readonly timeout: number | undefined;
  /** Set when `callbacks` came from `extractRunContext`: the parent run is in another process. */
  readonly remote: RemoteParent | undefined;
}

const isPlainRecord = (value: unknown): boolean => value !== null && typeof value === 'object' && !Array.isArray(value);

// Built on first use: importing callscope never loads zod, and the common configs never need it (see
// `quickConfig`).
const configSchema = lazySchema((z) => {
  const plainRecord = z.custom<Record<string, unknown>>(isPlainRecord);
  return z.looseObject({
    callbacks: z
      .union([z.array(z.custom<CallbackHandler>(isPlainRecord)), z.instanceof(CallbackManager), z.custom<LangChainManagerLike>(isLangChainManager)])
      .optional(),
    tags: z.array(z.string()).optional(),
    metadata: plainRecord.optional(),
    runName: z.string().min(1).optional(),
    runId: z
      .string()
      .refine((value) => loadUuid().validate(value))
      .optional(),
    signal: z.instanceof(AbortSignal).optional(),
    maxConcurrency: z.union([z.number().int().min(1), z.literal(Number.POSITIVE_INFINITY)]).optional(),
    configurable: plainRecord.optional(),
    timeout: z.number().positive().finite().optional(),
  });
});

const KNOWN_KEYS: readonly string[] = [
  'callbacks',
  'tags',
  'metadata',
  'runName',
  'runId',
  'signal',
  'maxConcurrency',
  'configurable',
  'timeout',
];

// Fields of the config LangChain.js (and LangGraph.js) passes to functions, which callscope accepts as its
// own config and ignores: `recursionLimit` (LangChain's RunnableConfig), `store`, `writer`, `interrupt`,
// `context`, `runtime`, `durability` (LangGraph's), and LangSmith's `ls_*` and LangGraph's `__*` internals.
const LANGCHAIN_KEYS: ReadonlySet<string> = new Set(['recursionLimit', 'store', 'writer', 'interrupt', 'context', 'runtime', 'durability']);

// The internal fields of a RunScope: a spread copy of the config a body received (`{ ...config, tags }`)
// carries them along, and must keep working.
let internalKeys: ReadonlySet<string> | undefined;
function scopeKeys(): ReadonlySet<string> {
  internalKeys ??= new Set(Object.keys(new RunScope(new CallbackManager(NO_HANDLERS), [], {}, undefined, undefined, undefined)));
  return internalKeys;
}

function isLangChainKey(key: string): boolean {
  return LANGCHAIN_KEYS.has(key) || key.startsWith('ls_') || key.startsWith('__');
}

const expectations = {
  callbacks: 'an array of handlers or a CallbackManager',
  tags: 'an array of strings',
  metadata: 'a plain object',
  runName: 'a non-empty string',
  runId: 'a UUID string',
  signal: 'an AbortSignal',
  maxConcurrency: 'a whole number of at least 1 (or Infinity)',
  configurable: 'a plain object',
  timeout: 'a positive number of milliseconds',
};

/**
 * Validates a user-supplied config and puts it in the shape runs merge from.
 *
 * @param where - how the config is called in error messages, e.g. "RunnableConfig".
 * @throws {@link ConfigError} naming the first bad field and the value received.
 */
export function normalizeConfig(config: unknown, where = 'RunnableConfig'): NormalizedConfig {
  const parsed = quickParse(config) ?? slowParse(config, where);
  const callbacks = parsed.callbacks;
  let handlers: HandlerSet | undefined;
  let parentRunId: string | undefined;
  let remote: RemoteParent | undefined;
  if (callbacks instanceof CallbackManager) {
    handlers = callbacks.handlerSet;
    parentRunId = callbacks.parentRunId;
    remote = callbacks._remote;
  } else if (isLangChainManager(callbacks)) {
    // The config LangChain.js passes to functions: report into its handlers, under its run.
    ({ handlers, parentRunId } = fromLangChainManager(callbacks));
  } else if (callbacks !== undefined && callbacks.length > 0) {
    handlers = NO_HANDLERS.union(callbacks);
  }
  return {
    handlers,
    parentRunId,
    tags: parsed.tags === undefined ? undefined : Object.freeze(dedupe(parsed.tags)),
    metadata: parsed.metadata === undefined ? undefined : snapshotField(parsed.metadata, 'metadata', where),
    runName: parsed.runName,
    runId: parsed.runId,
    signal: parsed.signal,
    maxConcurrency: parsed.maxConcurrency,
    configurable: parsed.configurable === undefined ? undefined : snapshotField(parsed.configurable, 'configurable', where),
    timeout: parsed.timeout,
    remote,
  };
}

// Everything quickParse does not vouch for: unknown keys are refused (LangChain's own fields excepted), a
// handler class given without `new` is named as such, and zod explains any other problem.
function slowParse(config: unknown, where: string): ParsedConfig {
  if (config !== null && typeof config === 'object' && !Array.isArray(config) && !(config instanceof RunScope)) {
    let keys: string[];
    try {
      keys = Object.keys(config);
    } catch (error) {
      throw new ConfigError('(root)', config, `Could not read the keys of ${where}, got ${describeValue(config)}.`, { cause: error });
    }
    for (const key of keys) {
      if (KNOWN_KEYS.includes(key) || isLangChainKey(key) || scopeKeys().has(key)) continue;
      const near = nearestKey(key, KNOWN_KEYS);
      const hint = near === undefined ? '' : ` Did you mean \`${near}\`?`;
      throw new ConfigError(
        key,
        (config as Record<string, unknown>)[key],
        `Unknown option \`${key}\` in ${where}.${hint} Expected only: ${KNOWN_KEYS.join(', ')}.`,
      );
    }
    const callbacks = (config as { callbacks?: unknown }).callbacks;
    if (Array.isArray(callbacks)) assertNoHandlerClass(callbacks, 'callbacks', where);
  }
  return parseOrThrow(configSchema(), config, where, expectations);
}

/**
 * @throws {@link ConfigError} when `handlers` holds a function (a handler class given without `new`, say),
 *   showing what was received and asking whether `new` was forgotten.
 */
export function assertNoHandlerClass(handlers: readonly unknown[], field: string, where: string): void {
  handlers.forEach((handler, index) => {
    if (typeof handler !== 'function') return;
    const source = Function.prototype.toString.call(handler);
    const shown = `\`[${source.startsWith('class') ? 'class' : 'function'} ${handler.name || 'anonymous'}]\``;
    throw new ConfigError(
      `${field}[${index}]`,
      handler,
      `Expected \`${field}[${index}]\` in ${where} to be a handler object, got ${shown} (function): did you forget \`new\`? ` +
        `Pass an instance, such as \`${field}: [new ${handler.name || 'MyHandler'}()]\`.`,
    );
  });
}

// Snapshots callscope made: frozen, holding only snapshots or values kept by reference. Passing one back in
// (a body spreading the config it received) costs a lookup, not a copy.
const snapshots = new WeakSet<object>();

// Plain data deeper than this is kept by reference: a snapshot must stay cheap and never overflow the stack.
const MAX_SNAPSHOT_DEPTH = 16;

function snapshotField(value: Record<string, unknown>, field: string, where: string): Readonly<Record<string, unknown>> {
  if (snapshots.has(value)) return value;
  try {
    return snapshotRecord(value, 0, new Map());
  } catch (error) {
    throw new ConfigError(field, value, `Could not copy \`${field}\` of ${where}: reading it threw ${describeValue(error)}.`, { cause: error });
  }
}

/**
 * A frozen copy of `value`'s own enumerable keys, plain objects and arrays inside copied the same way (down
 * to {@link MAX_SNAPSHOT_DEPTH}); anything else (class instances, dates, maps, functions) is kept by
 * reference. A `__proto__` own key stays data, never a prototype.
 */
function snapshotRecord(value: object, depth: number, copies: Map<object, object>): Readonly<Record<string, unknown>> {
  const copy: Record<string, unknown> = {};
  copies.set(value, copy);
  for (const key of Object.keys(value)) {
    const item = snapshotValue((value as Record<string, unknown>)[key], depth + 1, copies);
    if (key === '__proto__') Object.defineProperty(copy, key, { value: item, enumerable: true, writable: true, configurable: true });
    else copy[key] = item;
  }
  snapshots.add(copy);
  return Object.freeze(copy);
}

function snapshotValue(value: unknown, depth: number, copies: Map<object, object>): unknown {
  if (value === null || typeof value !== 'object' || snapshots.has(value)) return value;
  const seen = copies.get(value);
  if (seen !== undefined) return seen;
  if (depth > MAX_SNAPSHOT_DEPTH) return value;
  if (Array.isArray(value)) {
    const copy: unknown[] = [];
    copies.set(value, copy);
    for (const item of value as unknown[]) copy.push(snapshotValue(item, depth + 1, copies));
    snapshots.add(copy);
    return Object.freeze(copy);
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  return snapshotRecord(value, depth, copies);
}

type ParsedConfig = z.output<ReturnType<typeof configSchema>>;

const QUICK_KEYS: ReadonlySet<string> = new Set(['callbacks', 'tags', 'metadata', 'runName', 'runId', 'signal', 'maxConcurrency', 'configurable', 'timeout']);

/**
 * The config itself when it plainly passes the schema: a plain object with only callscope's own fields, each
 * of the right type, as in `{ callbacks: [tracer], tags: ['x'], timeout: 5_000 }`. Everything else, every
 * invalid config and every config with LangChain's extra fields included, goes through zod, which also
 * explains what is wrong (and is loaded only then). Top-level invokes validate their config
 * every time; zod took ~290 ns of a ~5 us nested invoke for this shape, this takes a few tens.
 * `spec/runnables/config.spec.ts` checks with random configs that both always agree.
 *
 * @internal Exported for that check only.
 */
export function quickParse(config: unknown): ParsedConfig | undefined {
  if (config === null || typeof config !== 'object' || Object.getPrototypeOf(config) !== Object.prototype) return undefined;
  const fields = config as Record<string, unknown>;
  for (const key in fields) if (!QUICK_KEYS.has(key)) return undefined;
  const { callbacks, tags, metadata, runName, runId, signal, maxConcurrency, configurable, timeout } = fields;
  if (callbacks !== undefined && !(callbacks instanceof CallbackManager)) {
    if (!Array.isArray(callbacks)) return undefined;
    for (const handler of callbacks as unknown[]) if (!isRecordLike(handler)) return undefined;
  }
  if (tags !== undefined) {
    if (!Array.isArray(tags)) return undefined;
    for (const tag of tags as unknown[]) if (typeof tag !== 'string') return undefined;
  }
  if (metadata !== undefined && !isRecordLike(metadata)) return undefined;
  if (configurable !== undefined && !isRecordLike(configurable)) return undefined;
  if (runName !== undefined && (typeof runName !== 'string' || runName.length === 0)) return undefined;
  if (signal !== undefined && !(signal instanceof AbortSignal)) return undefined;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && timeout !== Number.POSITIVE_INFINITY)) return undefined;
  if (maxConcurrency !== undefined && !(Number.isInteger(maxConcurrency) ? (maxConcurrency as number) >= 1 : maxConcurrency === Number.POSITIVE_INFINITY)) {
    return undefined;
  }
  if (runId !== undefined && !(typeof runId === 'string' && loadUuid().validate(runId))) return undefined;
  return fields;
}

function isRecordLike(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Combines two normalized configs, `over` winning; used when `withConfig` is applied twice. */
export function combineNormalized(under: NormalizedConfig, over: NormalizedConfig): NormalizedConfig {
  return {
    handlers: under.handlers && over.handlers ? under.handlers.union(over.handlers) : (over.handlers ?? under.handlers),
    parentRunId: over.parentRunId ?? under.parentRunId,
    tags: unionTags(under.tags, over.tags),
    metadata: mergeRecords(under.metadata, over.metadata),
    runName: over.runName ?? under.runName,
    runId: over.runId ?? under.runId,
    signal: combineSignals(under.signal, over.signal),
    maxConcurrency: over.maxConcurrency ?? under.maxConcurrency,
    configurable: mergeRecords(under.configurable, over.configurable),
    timeout: over.timeout ?? under.timeout,
    remote: over.parentRunId !== undefined ? over.remote : under.remote,
  };
}

const EMPTY_TAGS: readonly string[] = Object.freeze([]);
const EMPTY_METADATA: Readonly<Record<string, unknown>> = Object.freeze({});
snapshots.add(EMPTY_METADATA);

/**
 * The parent side of a new run: the inherited scope with the runnable's bound config and the call's
 * config applied. Handlers and tags are unioned without duplicates, metadata and `configurable` merged
 * with the later keys winning; a CallbackManager with a parent run decides the parent.
 */
export function mergeScope(
  base: RunScope | undefined,
  bound: NormalizedConfig | undefined,
  call: NormalizedConfig | undefined,
  forRun = false,
): RunScope | undefined {
  // A layer that only names the run, sets its id or its timeout (`invoke(x, { runName })`) changes nothing
  // the run inherits: the base serves as it is, without a copy.
  if ((bound === undefined || !shapesScope(bound)) && (call === undefined || !shapesScope(call))) return base;
  let handlers = base === undefined ? NO_HANDLERS : inheritableHandlers(base);
  let parentRunId = base?.callbacks.parentRunId;
  let remote: RemoteParent | undefined;
  let release: (() => void) | undefined;
  let tags = base === undefined ? EMPTY_TAGS : inheritableTags(base);
  let metadata = base?.metadata ?? EMPTY_METADATA;
  let signal = base?.signal;
  let configurable = base?.configurable;
  let maxConcurrency = base?.maxConcurrency;
  for (const layer of [bound, call]) {
    if (layer === undefined) continue;
    if (layer.handlers !== undefined) handlers = handlers.union(layer.handlers);
    if (layer.parentRunId !== undefined) {
      parentRunId = layer.parentRunId;
      remote = layer.remote;
    }
    if (layer.tags !== undefined) tags = unionTags(tags, layer.tags) ?? EMPTY_TAGS;
    if (layer.metadata !== undefined) metadata = mergeRecords(metadata, layer.metadata) ?? EMPTY_METADATA;
    if (layer.signal !== undefined) {
      if (forRun) {
        const linked = linkSignals(signal, layer.signal);
        signal = linked.signal;
        release = chain(release, linked.release);
      } else signal = combineSignals(signal, layer.signal);
    }
    if (layer.configurable !== undefined) configurable = mergeRecords(configurable, layer.configurable);
    if (layer.maxConcurrency !== undefined) maxConcurrency = layer.maxConcurrency;
  }
  const merged = new RunScope(
    new CallbackManager(handlers, { parentRunId }),
    tags,
    metadata,
    signal,
    configurable,
    maxConcurrency,
    undefined,
    undefined,
    // A parent in another process is no root here: childScope makes the run the root of its own tree.
    remote !== undefined ? undefined : parentRunId === base?.callbacks.parentRunId ? base?._rootRunId : parentRunId,
  );
  if (base?._nextRunTags !== undefined && parentRunId === base.callbacks.parentRunId) merged._nextRunTags = base._nextRunTags;
  merged._remote = remote;
  merged._release = release;
  return merged;
}

/** Whether a config layer changes what a run inherits (anything but its name, id and timeout). */
function shapesScope(layer: NormalizedConfig): boolean {
  return (
    layer.handlers !== undefined ||
    layer.parentRunId !== undefined ||
    layer.tags !== undefined ||
    layer.metadata !== undefined ||
    layer.signal !== undefined ||
    layer.configurable !== undefined ||
    layer.maxConcurrency !== undefined
  );
}

/**
 * A new run's scope: a {@link RunScope}, or with `source` (and no `signal`) a scope whose signal `source`
 * makes on first read, built as such at once rather than copied from a RunScope (see {@link deferSignal}).
 */
function newScope(
  source: SignalSource | undefined,
  callbacks: CallbackManager,
  tags: readonly string[],
  metadata: Readonly<Record<string, unknown>>,
  signal: AbortSignal | undefined,
  configurable: Readonly<Record<string, unknown>> | undefined,
  maxConcurrency: number | undefined,
  parentRunId: string | undefined,
  runName: string,
  rootRunId: string,
  owner: RunScope | undefined,
  deadline: LongTimeout | undefined,
): RunScope {
  if (source === undefined || signal !== undefined) {
    return new RunScope(callbacks, tags, metadata, signal, configurable, maxConcurrency, parentRunId, runName, rootRunId, owner, deadline);
  }
  return new DeferredSignalScope(source, callbacks, tags, metadata, configurable, maxConcurrency, parentRunId, runName, rootRunId, owner, deadline);
}

/**
 * The scope a run's body sees: the parent side, with the run itself as the parent of what it starts.
 * It doubles as the run's record: its id, its parent's id, its name, its root, the parent run it counts
 * as an open child of, and its own deadline.
 */
export function childScope(
  parent: RunScope | undefined,
  runId: string,
  runName: string,
  owner: RunScope | undefined,
  signal: AbortSignal | undefined,
  deadline: LongTimeout | undefined,
  release?: () => void,
  ownHandlers?: readonly CallbackHandler[],
  signalSource?: SignalSource,
): RunScope {
  if (ownHandlers !== undefined) {
    // Handlers of this run only (listeners): its children inherit the handlers without them.
    const scope = childScope(parent, runId, runName, owner, signal, deadline, release);
    const withOwn = new RunScope(
      new CallbackManager(scope.callbacks.handlerSet.union(ownHandlers), { parentRunId: runId }),
      scope.tags,
      scope.metadata,
      scope.signal,
      scope.configurable,
      scope.maxConcurrency,
      scope._parentRunId,
      scope._runName,
      scope._rootRunId,
      scope._owner,
      scope._deadline,
    );
    withOwn._inheritTags = scope._inheritTags;
    withOwn._inheritHandlers = scope.callbacks.handlerSet;
    withOwn._release = scope._release;
    return signalSource === undefined ? withOwn : deferSignal(withOwn, signalSource);
  }
  if (parent === undefined) {
    const scope = newScope(
      signalSource,
      new CallbackManager(NO_HANDLERS, { parentRunId: runId }),
      EMPTY_TAGS,
      EMPTY_METADATA,
      signal,
      undefined,
      undefined,
      undefined,
      runName,
      runId,
      owner,
      deadline,
    );
    scope._release = release;
    return scope;
  }
  const parentRunId = parent.callbacks.parentRunId;
  const inherited = inheritableTags(parent);
  const own = parent._nextRunTags;
  const remote = parent._remote;
  const scope = newScope(
    signalSource,
    new CallbackManager(inheritableHandlers(parent), { parentRunId: runId }),
    own === undefined ? inherited : (unionTags(inherited, own) ?? EMPTY_TAGS),
    parent.metadata,
    signal,
    parent.configurable,
    parent.maxConcurrency,
    parentRunId,
    runName,
    // A local root whose parent is in another process is a flush root of its own: two requests naming the
    // same caller never share a key.
    remote !== undefined ? runId : (parent._rootRunId ?? parentRunId ?? runId),
    owner,
    deadline,
  );
  if (own !== undefined) scope._inheritTags = inherited;
  // A scope mergeScope built (it has no run name) serves this one run only: its releases are the run's now.
  // A run's own scope passed on unchanged keeps its own.
  const merged = parent._runName === undefined;
  let onEnd = merged ? chain(parent._release, release) : release;
  if (merged) parent._release = undefined;
  if (remote !== undefined && parent.callbacks.handlerSet.handlers.length > 0) onEnd = chain(onEnd, rememberRemoteRun(runId, remote));
  scope._release = onEnd;
  return scope;
}

function chain(a: (() => void) | undefined, b: (() => void) | undefined): (() => void) | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return () => {
    a();
    b();
  };
}

function dedupe(tags: readonly string[]): string[] {
  return tags.length < 2 ? [...tags] : [...new Set(tags)];
}

function unionTags(a: readonly string[] | undefined, b: readonly string[] | undefined): readonly string[] | undefined {
  if (a === undefined || a.length === 0) return b ?? a;
  if (b === undefined || b.length === 0) return a;
  let merged: string[] | undefined;
  for (const tag of b) {
    if (a.includes(tag) || merged?.includes(tag)) continue;
    (merged ??= [...a]).push(tag);
  }
  return merged ? Object.freeze(merged) : a;
}

function mergeRecords(
  a: Readonly<Record<string, unknown>> | undefined,
  b: Readonly<Record<string, unknown>> | undefined,
): Readonly<Record<string, unknown>> | undefined {
  if (a === undefined || Object.keys(a).length === 0) return b ?? a;
  if (b === undefined || Object.keys(b).length === 0) return a;
  // Spread copies a `__proto__` own key as data; both sides are snapshots already.
  const merged = Object.freeze({ ...a, ...b });
  snapshots.add(merged);
  return merged;
}

/**
 * One signal that aborts when `a` or `b` does, for a run: an internal controller subscribed to both through
 * the one-listener-per-signal registry ({@link onAbort}), and the function that unsubscribes it, to call
 * when the run ends. Unlike `AbortSignal.any`, which on Node 20 leaves an entry on a long-lived source signal
 * for every signal combined from it (about 65 bytes per run), nothing stays behind on `a` or `b`.
 */
export function linkSignals(a: AbortSignal | undefined, b: AbortSignal): { signal: AbortSignal; release: (() => void) | undefined } {
  if (a === undefined || a === b) return { signal: b, release: undefined };
  if (a.aborted || b.aborted) return { signal: AbortSignal.abort(a.aborted ? a.reason : b.reason), release: undefined };
  const controller = new AbortController();
  const offA = onAbort(a, () => controller.abort(a.reason));
  const offB = onAbort(b, () => controller.abort(b.reason));
  return {
    signal: controller.signal,
    release: () => {
      offA();
      offB();
    },
  };
}

// A child given its own signal must still stop when an inherited one aborts. For signals combined once (a
// runnable's bound config), not per run: see linkSignals.
export function combineSignals(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (a === undefined || a === b) return b;
  if (b === undefined) return a;
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([a, b]);
  // Node before 18.17 / 20.3 has no AbortSignal.any.
  const controller = new AbortController();
  const forward = (source: AbortSignal) => () => controller.abort(source.reason);
  if (a.aborted || b.aborted) controller.abort(a.aborted ? a.reason : b.reason);
  else {
    a.addEventListener('abort', forward(a), { once: true });
    b.addEventListener('abort', forward(b), { once: true });
  }
  return controller.signal;
}

// Where a deferred-signal scope keeps what makes its signal (the run's target). A symbol: neither
// `Object.keys` nor `for...in` (config validation) sees it. (A WeakMap costs the garbage collector more.)
const DEFERRED = Symbol('callscope.deferredSignal');

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** What makes a deferred signal: made on the first call, the same signal on every later one. */
export interface SignalSource {
  _makeSignal(): AbortSignal;
}

interface WithDeferred {
  [DEFERRED]: SignalSource;
}

function readDeferredSignal(this: RunScope & WithDeferred): AbortSignal {
  // The source keeps the signal it made: the scope holds no function of its own per run.
  return this[DEFERRED]._makeSignal();
}

/**
 * `Object.prototype.__defineGetter__` (Annex B, in every engine we support): defines an own enumerable,
 * configurable getter, as `Object.defineProperty(o, key, { get, enumerable: true, configurable: true })`
 * does, without reading a descriptor object first: about 500 instructions fewer per request scope on Node 20
 * and 24 (callgrind).
 */
interface GetterDefining {
  __defineGetter__(key: string, getter: () => unknown): void;
}

/**
 * A run's scope whose `signal` is an own, enumerable getter that makes the signal on first read (see
 * {@link deferSignal}); `{ ...config, tags }` carries the signal along like any other field. A RunScope by
 * its prototype chain, but not built by RunScope's constructor: that defines `signal` as a data property,
 * and turning it into a getter afterwards makes the object a slow dictionary. Here every field is set in
 * RunScope's order, the getter as a new property: one hidden class for all such scopes.
 *
 * Every field is assigned as `this.field = ...`, in the constructor's own text: V8 sizes an instance by
 * counting those assignments. Written through an alias (`const self = this`), it reserved 10 fields in the
 * object and put the other 11 in a separate array, grown three slots at a time: four allocations more per
 * scope, 829 bytes per server request where 350 do (V8's sampling heap profiler, Node 20).
 */
// The interface gives the class RunScope's fields (set below) without redeclaring each.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
interface DeferredSignalScope extends Writable<RunScope>, WithDeferred {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
class DeferredSignalScope {
  constructor(
    source: SignalSource,
    callbacks: CallbackManager,
    tags: readonly string[],
    metadata: Readonly<Record<string, unknown>>,
    configurable: Readonly<Record<string, unknown>> | undefined,
    maxConcurrency: number | undefined,
    parentRunId: string | undefined,
    runName: string | undefined,
    rootRunId: string | undefined,
    owner: RunScope | undefined,
    deadline: LongTimeout | undefined,
  ) {
    // spec/runnables/deferred-signal.spec.ts checks that no field of RunScope is missing here, in its order.
    this.callbacks = callbacks;
    this.tags = tags;
    this.metadata = metadata;
    // One getter for every deferred-signal scope (a getter per scope would give each its own hidden class).
    (this as unknown as GetterDefining).__defineGetter__('signal', readDeferredSignal);
    this.configurable = configurable;
    this.maxConcurrency = maxConcurrency;
    this._parentRunId = parentRunId;
    this._runName = runName;
    this._rootRunId = rootRunId;
    this._owner = owner;
    this._deadline = deadline;
    this._ended = false;
    this._openChildren = 0;
    this._childrenSettled = undefined;
    this._inheritTags = undefined;
    this._inheritHandlers = undefined;
    this._nextRunTags = undefined;
    this._source = undefined;
    this._remote = undefined;
    this._release = undefined;
    this._signalUnwatched = true;
    this[DEFERRED] = source;
  }
}
Object.setPrototypeOf(DeferredSignalScope.prototype, RunScope.prototype);

/**
 * The scope of a run that has no signal, neither its own nor inherited, given one that `source` makes on
 * first read (by a run started inside it, `getCurrentConfig().signal`, a spread copy of the config). For a run that
 * must be cancellable but seldom is, such as a server request's, where signals are costly: on Node 20 making
 * an `AbortSignal` costs about 5 µs (more than a whole nested invoke), and a request whose route starts no run
 * never needs one. Where they are cheap ({@link cheapAbortSignals}: Node 22 and later) the run makes it at
 * once instead ({@link unwatchedSignal}): a data property costs less than defining the getter. Either way the
 * run itself does not watch that signal ({@link watchedSignal}), which spares it a listener and a race per
 * run: whoever aborts it also ends the run.
 *
 * @param scope - the run's scope as {@link childScope} made it, not yet seen by anyone: it is copied.
 * @param source - makes the signal on its first call and returns that same signal on every later one (the
 *   run's target: a server request's exchange); the scope asks it on every read.
 * @internal
 */
export function deferSignal(scope: RunScope, source: SignalSource): RunScope {
  const deferred = new DeferredSignalScope(
    source,
    scope.callbacks,
    scope.tags,
    scope.metadata,
    scope.configurable,
    scope.maxConcurrency,
    scope._parentRunId,
    scope._runName,
    scope._rootRunId,
    scope._owner,
    scope._deadline,
  );
  deferred._ended = scope._ended;
  deferred._openChildren = scope._openChildren;
  deferred._childrenSettled = scope._childrenSettled;
  deferred._inheritTags = scope._inheritTags;
  deferred._inheritHandlers = scope._inheritHandlers;
  deferred._nextRunTags = scope._nextRunTags;
  deferred._source = scope._source;
  deferred._remote = scope._remote;
  deferred._release = scope._release;
  return deferred;
}

/**
 * A run's scope whose signal its target made at once, where signals are cheap ({@link cheapAbortSignals}):
 * like {@link deferSignal}, the run does not watch it. `scope` is the run's scope as {@link childScope} made
 * it with that signal, not yet seen by anyone: it is marked, not copied.
 *
 * @internal
 */
export function unwatchedSignal(scope: RunScope): RunScope {
  scope._signalUnwatched = true;
  return scope;
}

/** The signal a run watches itself: none for a scope whose signal its target made (see {@link deferSignal}). */
export function watchedSignal(scope: RunScope): AbortSignal | undefined {
  return scope._signalUnwatched ? undefined : scope.signal;
}

/**
 * The handlers of a dormant root run (see {@link dormantRootScope}): none, and a `parentRunId` made on first
 * read. A CallbackManager by its prototype chain, not built by CallbackManager's constructor, which defines
 * `parentRunId` as a data property: here it is a getter on this class's prototype, so the object is made with
 * three plain fields and no property is defined per run.
 */
// The interface gives the class CallbackManager's fields (set below) without redeclaring each.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type
interface DormantRunManager extends Writable<CallbackManager> {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
class DormantRunManager {
  /** The run's id, once something has read it. */
  declare _runId: string | undefined;

  // Fields are declared and assigned, never initialized in the class body: V8 runs a class's field
  // initializers as a function of their own, which costs about 340 instructions per object on Node 20
  // (see Runnable's constructor).
  constructor() {
    this.handlerSet = NO_HANDLERS;
    this._remote = undefined;
    this._runId = undefined;
  }
}
Object.defineProperty(DormantRunManager.prototype, 'parentRunId', {
  get(this: DormantRunManager): string {
    return (this._runId ??= newRunId());
  },
  enumerable: false,
  configurable: true,
});
Object.setPrototypeOf(DormantRunManager.prototype, CallbackManager.prototype);

/**
 * The scope of a root run nobody observes (no handler, tag, metadata, bound config or listener; nothing
 * inherited), whose id is made only when something reads it: a run started below it, `getCurrentConfig()`
 * read for its `callbacks.parentRunId`, a flush. Such a run sends no event, so until then nobody can tell
 * the id was not made with the run; a server request's run is one per request, and for a route that starts
 * no run the id (a clock read and three strings) was the largest part of what the scope cost.
 *
 * The scope has no `_rootRunId`: runs below it take its id as their root (`_rootRunId ?? parentRunId`), and
 * it sends no event of its own that would need one. Its signal is `source`'s, made at once where signals
 * are cheap ({@link cheapAbortSignals}), else on first read (see {@link deferSignal}); the run does not watch
 * it either way.
 *
 * @internal
 */
export function dormantRootScope(runName: string, source: SignalSource, eagerSignal: boolean): RunScope {
  const manager = new DormantRunManager() as CallbackManager;
  if (eagerSignal) {
    return unwatchedSignal(new RunScope(manager, EMPTY_TAGS, EMPTY_METADATA, source._makeSignal(), undefined, undefined, undefined, runName, undefined, undefined, undefined));
  }
  return new DeferredSignalScope(source, manager, EMPTY_TAGS, EMPTY_METADATA, undefined, undefined, undefined, runName, undefined, undefined, undefined);
}

/**
 * The id of the run `manager` names, without making it: `undefined` for a dormant root whose id nobody has
 * read yet (see {@link dormantRootScope}); for any other manager, its `parentRunId`.
 *
 * @internal
 */
export function knownRunId(manager: CallbackManager): string | undefined {
  return manager instanceof DormantRunManager ? manager._runId : manager.parentRunId;
}

/**
 * Whether `scope` belongs to a run (rather than being the marker context background handlers are called in),
 * without making a dormant root's id.
 *
 * @internal
 */
export function namesRun(scope: RunScope): boolean {
  const callbacks = scope.callbacks;
  return callbacks instanceof DormantRunManager || callbacks.parentRunId !== undefined;
}
