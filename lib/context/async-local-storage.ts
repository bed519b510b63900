import { AsyncLocalStorage } from 'node:async_hooks';
import type { ContextBackend } from './backend';

// One instance for the whole process: every enabled AsyncLocalStorage adds work to every promise created
// anywhere in the process, so a per-run instance would make each run slow down all the others.
let storage: AsyncLocalStorage<unknown> | undefined;

/** The single AsyncLocalStorage instance callscope uses, shared by the backend and the diagnostics. */
export function sharedStorage(): AsyncLocalStorage<unknown> {
  storage ??= new AsyncLocalStorage<unknown>();
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
