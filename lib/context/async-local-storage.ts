import type { AsyncLocalStorage } from 'node:async_hooks';
import { ConfigError } from '../errors';
import { AsyncLocalStorageClass, asyncLocalStorageMissing } from '../platform';
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
  };
}
