import type { AsyncLocalStorage } from 'node:async_hooks';
import { ConfigError } from '../errors';
import { asyncLocalStorageAvailable, asyncLocalStorageClass, asyncLocalStorageMissing, asyncResourceClass, executionAsyncResourceFunction } from '../platform';
import type { ContextBackend } from './backend';

// One instance for the whole process: every enabled AsyncLocalStorage adds work to every promise created
// anywhere in the process, so a per-run instance would make each run slow down all the others.
let storage: AsyncLocalStorage<unknown> | undefined;

/** True when the runtime offers AsyncLocalStorage (Node, Bun, Deno, Workers with `nodejs_als`). */
export const hasAsyncLocalStorage = (): boolean => asyncLocalStorageAvailable;

/**
 * The single AsyncLocalStorage instance callscope uses, shared by the backend and the diagnostics.
 *
 * @throws {@link ConfigError} on `propagation` when the runtime has no AsyncLocalStorage.
 */
export function sharedStorage(): AsyncLocalStorage<unknown> {
  const AsyncLocalStorageClass = asyncLocalStorageClass();
  if (AsyncLocalStorageClass === undefined) {
    throw new ConfigError(
      'propagation',
      'async-local-storage',
      `Expected \`propagation\` to name a mode this runtime supports, got 'async-local-storage': ${asyncLocalStorageMissing ?? 'no AsyncLocalStorage'}. Use 'explicit' (pass \`config\` on) or leave the default, which picks the best mode available.`,
    );
  }
  storage ??= new AsyncLocalStorageClass<unknown>();
  return storage;
}

/**
 * Carries the active run through `node:async_hooks` AsyncLocalStorage. Only `run` is used, never
 * `enterWith`: `enterWith` leaks the value into the caller's continuation (and across keep-alive requests).
 */
export function createAsyncLocalStorageBackend<TValue>(): ContextBackend<TValue> {
  const als = sharedStorage();
  return {
    mode: 'async-local-storage',
    active: () => als.getStore() as TValue | undefined,
    // On Node 20 and 22 the value is set on the async resource directly (see resourceWith); elsewhere `run`
    // itself, bound: a wrapper with a rest parameter made an array per call and spread it again.
    with: resourceWith(als) ?? als.run.bind(als),
    bind: (value, fn) => (...args) => als.run(value, fn, ...args),
    observed: () => als.getStore() as TValue | undefined,
    observedIsActive: true,
    outside: outsideOf(als),
  };
}

type With = <TArgs extends unknown[], TResult>(value: unknown, fn: (...args: TArgs) => TResult, ...args: TArgs) => TResult;

/** What a hook-based AsyncLocalStorage (Node 20 and 22) has besides its documented methods. */
interface HookBasedStorage {
  /** Where its value is kept on each async resource. */
  readonly kResourceStore?: unknown;
  /** Whether it is enabled (its async hook installed): `run` and `enterWith` enable it. */
  readonly enabled?: unknown;
  /** Copies its value from a resource to the resources made in it (what its async hook calls). */
  readonly _propagate?: unknown;
}

/**
 * Whether `als` keeps its values on async resources through async hooks (Node before AsyncContextFrame: 20,
 * and 22 by default), rather than in a context frame (Node 24 and later) or the runtime's own way (Bun, Deno,
 * Workers).
 */
function isHookBased(als: AsyncLocalStorage<unknown>): boolean {
  return typeof (als as unknown as HookBasedStorage)._propagate === 'function';
}

/**
 * `with` for a hook-based AsyncLocalStorage (Node 20 and 22), or `undefined` for any other (Node 24's
 * AsyncContextFrame, Bun, Deno, Workers), which then uses `als.run`.
 *
 * There the value is a property of the current async resource: `run` reads the store to compare
 * (`executionAsyncResource()`, a call into the runtime), finds the resource again (a second call), sets the
 * property, and calls `fn` through an array of its arguments. This does the same with one call into the
 * runtime and no array; every run enters its scope with it, so on Node 20 it is part of every run's cost.
 * Until the storage is enabled (its first `run`), and for calls with more than three arguments, it is
 * `als.run` itself. Used only when the storage has the three members `run` works with, and checked once,
 * on first use, against `als.getStore()`; if that disagrees, `als.run` is used from then on.
 */
function resourceWith(als: AsyncLocalStorage<unknown>): With | undefined {
  const internals = als as unknown as HookBasedStorage;
  const key = internals.kResourceStore;
  const executionAsyncResource = executionAsyncResourceFunction();
  if (!isHookBased(als) || typeof key !== 'symbol' || typeof internals.enabled !== 'boolean' || executionAsyncResource === undefined) {
    return undefined;
  }
  const run = als.run.bind(als);
  let checked = false;
  let usable = true;
  /** Calls `fn` with the arguments `with` was given, as many as there were (its `arguments.length` is `count`). */
  const call = <TResult>(count: number, fn: (...args: unknown[]) => TResult, a: unknown, b: unknown, c: unknown): TResult =>
    count === 2 ? fn() : count === 3 ? fn(a) : count === 4 ? fn(a, b) : fn(a, b, c);
  return function withValue(value: unknown, fn: (...args: unknown[]) => unknown, a?: unknown, b?: unknown, c?: unknown): unknown {
    const count = arguments.length;
    if (!usable || count > 5 || internals.enabled !== true) {
      // eslint-disable-next-line prefer-rest-params -- the rare case: as many arguments as were given
      return Reflect.apply(run, undefined, arguments) as unknown;
    }
    const resource = executionAsyncResource() as Record<symbol, unknown>;
    const previous = resource[key];
    if (previous === value) return call(count, fn, a, b, c);
    resource[key] = value;
    if (!checked) {
      checked = true;
      usable = als.getStore() === value;
      if (!usable) {
        resource[key] = previous;
        // eslint-disable-next-line prefer-rest-params -- as many arguments as were given
        return Reflect.apply(run, undefined, arguments) as unknown;
      }
    }
    try {
      return call(count, fn, a, b, c);
    } finally {
      resource[key] = previous;
    }
  } as With;
}

type Outside = <TArg, TResult>(fn: (arg: TArg) => TResult, arg: TArg) => TResult;

/** A value that belongs to a tree of values: a run's scope, whose `_owner` is the scope of its parent run. */
interface TreeMember {
  readonly _owner?: unknown;
}

/** The top of `value`'s tree: the root run's scope for a run's scope, else `value` itself. */
function treeOf(value: object): object {
  let node = value as TreeMember & object;
  while (typeof node._owner === 'object' && node._owner !== null) node = node._owner;
  return node;
}

/**
 * `outside` for an AsyncLocalStorage: calls `fn` with no value in `als` and every other AsyncLocalStorage
 * (an OpenTelemetry context, the app's own) as the run tree found it.
 *
 * `als.run(undefined, fn)` would do, but it builds a new context each call: about 350 ns on Node 24, where
 * AsyncContextFrame copies the map of every storage's value, and it runs for every event, so for every token
 * of a stream. Instead, each run tree gets one AsyncResource, made with `als` cleared (see `cleared` below)
 * the first time one of its events is delivered from inside the tree (the events of a root run itself are
 * delivered where it was called, outside any run, and need none); re-entering that resource costs about
 * 15 ns on Node 20 and 24. The resource lives as long as the tree's root scope (a WeakMap entry). The other
 * storages' values are the ones of that first delivery, in the body of the run that started the tree's first
 * child: values the app sets before or around its runs (a request id, the OpenTelemetry context of the
 * caller) are what handlers see; a value one run's body changes for the runs below it is not.
 *
 * Where the runtime has no AsyncResource, or its resources do not carry AsyncLocalStorage values (checked
 * once, on first use), it falls back to `als.run(undefined, fn)`.
 */
export function outsideOf(als: AsyncLocalStorage<unknown>): Outside {
  const plain: Outside = (fn, arg) => als.run(undefined, fn, arg);
  const Resource = asyncResourceClass();
  if (Resource === undefined) return plain;
  type Resource = InstanceType<typeof Resource>;
  const resources = new WeakMap<object, Resource>();
  const make = (): Resource => new Resource('callscope.outside');
  // Clears `als` in the context of the resource it runs in (see `cleared`), and makes the resource there.
  const clearAndMake = (): Resource => {
    als.enterWith(undefined);
    return make();
  };
  const readStore = (): unknown => als.getStore();
  // Where values live on async resources (isHookBased), `als.run` copies nothing, and making one resource
  // costs less than making two (each runs every storage's init hook).
  const hookBased = isHookBased(als);
  // Whether `runInAsyncScope` puts back the AsyncLocalStorage values it found, `enterWith` included (Node
  // does); unknown until the first resource is made.
  let restores: boolean | undefined;
  /**
   * A resource made in the current context with `als` cleared. `als.run(undefined, make)` builds two contexts
   * (on Node 24 each is a copy of the map of every storage's value: about 1,300 instructions, most of what a
   * tree of three runs spent on it); here the one `enterWith` builds is entered inside a resource made where
   * we are (which costs no copy), and left by `runInAsyncScope` putting back the context it found. Checked
   * once: where `runInAsyncScope` does not put the value back, the value is restored and `als.run` is used.
   */
  const cleared = (value: unknown): Resource => {
    if (restores === false || hookBased) return als.run(undefined, make);
    const resource = make().runInAsyncScope(clearAndMake);
    if (restores === undefined) {
      restores = als.getStore() === value;
      if (!restores) als.enterWith(value);
    }
    return resource;
  };
  // Unknown until the first resource is made; false means this runtime's resources do not do the job.
  let usable: boolean | undefined;
  return (fn, arg) => {
    const value = als.getStore();
    if (value === undefined) return fn(arg);
    if (usable === false || typeof value !== 'object' || value === null) return plain(fn, arg);
    const tree = treeOf(value);
    let resource = resources.get(tree);
    if (resource === undefined) {
      resource = cleared(value);
      usable ??= resource.runInAsyncScope(readStore) === undefined;
      if (!usable) return plain(fn, arg);
      resources.set(tree, resource);
    }
    return resource.runInAsyncScope(fn, undefined, arg);
  };
}
