import { ConfigError } from '../errors';
import type { ContextBackend } from './backend';

/** The part of the TC39 AsyncContext proposal callscope uses. */
interface AsyncContextVariable<TValue> {
  get(): TValue | undefined;
  run<TArgs extends unknown[], TResult>(value: TValue | undefined, fn: (...args: TArgs) => TResult, ...args: TArgs): TResult;
}

interface AsyncContextNamespace {
  Variable: new <TValue>(options?: { name?: string }) => AsyncContextVariable<TValue>;
}

const asyncContext = (): AsyncContextNamespace | undefined => {
  const candidate = (globalThis as { AsyncContext?: Partial<AsyncContextNamespace> }).AsyncContext;
  return typeof candidate?.Variable === 'function' ? (candidate as AsyncContextNamespace) : undefined;
};

/** True when the runtime provides the TC39 `AsyncContext` global (`AsyncContext.Variable`). */
export const hasAsyncContext = (): boolean => asyncContext() !== undefined;

// One variable for the whole realm, for the same reason as the one AsyncLocalStorage.
let variable: AsyncContextVariable<unknown> | undefined;

/**
 * Carries the active run through the TC39 `AsyncContext.Variable`, for runtimes that provide it instead of
 * AsyncLocalStorage.
 *
 * @throws {@link ConfigError} on `propagation` when the runtime has no `AsyncContext`.
 */
export function createAsyncContextBackend<TValue>(): ContextBackend<TValue> {
  const namespace = asyncContext();
  if (namespace === undefined) {
    throw new ConfigError(
      'propagation',
      'async-context',
      "Expected `propagation` to name a mode this runtime supports, got 'async-context': this runtime has no `AsyncContext` global (the TC39 proposal). Use 'async-local-storage' where AsyncLocalStorage exists, or 'explicit'.",
    );
  }
  variable ??= new namespace.Variable<unknown>({ name: 'callscope' });
  const store = variable;
  return {
    mode: 'async-context',
    active: () => store.get() as TValue | undefined,
    with: (value, fn, ...args) => store.run(value, fn, ...args),
    bind: (value, fn) => (...args) => store.run(value, fn, ...args),
    observed: () => store.get() as TValue | undefined,
    observedIsActive: true,
    outside: (fn, arg) => store.run(undefined, fn, arg),
  };
}
