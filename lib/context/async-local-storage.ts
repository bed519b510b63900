import type { AsyncLocalStorage } from 'node:async_hooks';
import { ConfigError } from '../errors';
import { AsyncLocalStorageClass, AsyncResourceClass, asyncLocalStorageMissing } from '../platform';
import type { ContextBackend } from './backend';

// One instance for the whole process: every enabled AsyncLocalStorage adds work to every promise created
// anywhere in the process, so a per-run instance would make each run slow down all the others.
let storage: AsyncLocalStorage<unknown> | undefined;

/** True when the runtime offers AsyncLocalStorage (Node, Bun, Deno, Workers with `nodejs_als`). */
export const hasAsyncLocalStorage = (): boolean => AsyncLocalStorageClass !== undefined;

/**
 * The single AsyncLocalStorage instance callscope uses, shared by the backend and the diagnostics.
 *
 * @throws {@link ConfigError} on `propagation` when the runtime has no AsyncLocalStorage.
 */
export function sharedStorage(): AsyncLocalStorage<unknown> {
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
    with: (value, fn, ...args) => als.run(value, fn, ...args),
    bind: (value, fn) => (...args) => als.run(value, fn, ...args),
    observed: () => als.getStore() as TValue | undefined,
    outside: outsideOf(als),
  };
}

type Outside = <TArgs extends unknown[], TResult>(fn: (...args: TArgs) => TResult, ...args: TArgs) => TResult;

/**
 * `outside` for an AsyncLocalStorage: calls `fn` with no value in `als` and every other AsyncLocalStorage
 * (an OpenTelemetry context, the app's own) as it is here.
 *
 * `als.run(undefined, fn)` would do, but it builds a new context each call: about 350 ns on Node 24, where
 * AsyncContextFrame copies the map of every storage's value, and it runs for every event, so for every token
 * of a stream. Instead, each active value gets one AsyncResource made with `als` cleared, the first time
 * something is called outside it, and re-entering that resource costs about 15 ns on Node 20 and 24. Values
 * are the scopes of runs, so the resource lives as long as its run's scope (a WeakMap entry). The context of
 * the other storages is the one of that first call, which for a run's events is its parent's body.
 *
 * Where the runtime has no AsyncResource, or its resources do not carry AsyncLocalStorage values (checked
 * once, on first use), it falls back to `als.run(undefined, fn)`.
 */
export function outsideOf(als: AsyncLocalStorage<unknown>): Outside {
  const plain: Outside = (fn, ...args) => als.run(undefined, fn, ...args);
  const Resource = AsyncResourceClass;
  if (Resource === undefined) return plain;
  const resources = new WeakMap<object, InstanceType<typeof Resource>>();
  const make = (): InstanceType<typeof Resource> => new Resource('callscope.outside');
  const readStore = (): unknown => als.getStore();
  let verified: boolean | undefined;
  return (fn, ...args) => {
    const value = als.getStore();
    if (value === undefined) return fn(...args);
    if (typeof value !== 'object' || value === null) return plain(fn, ...args);
    let resource = resources.get(value);
    if (resource === undefined) {
      resource = als.run(undefined, make);
      verified ??= resource.runInAsyncScope(readStore) === undefined;
      if (!verified) return plain(fn, ...args);
      resources.set(value, resource);
    }
    return resource.runInAsyncScope(fn, undefined, ...args);
  };
}
