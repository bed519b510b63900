import { hasAsyncLocalStorage, sharedStorage } from './async-local-storage';
import type { ContextBackend } from './backend';

/**
 * Carries nothing: a runnable sees only the config passed to it. This reproduces LangChain's behaviour on
 * runtimes without implicit context, and is what code must be written against to run where no
 * AsyncLocalStorage exists.
 *
 * @param track - keep the running run in the shared AsyncLocalStorage, without letting anything inherit
 *   it, so that a child invoked without config can be reported (`onLostCallbacks`). Where the runtime has
 *   no AsyncLocalStorage (a browser), the run is tracked while its body runs synchronously: a child invoked
 *   before the body's first `await` is reported, a later one cannot be.
 */
export function createExplicitBackend<TValue>(track = false): ContextBackend<TValue> {
  if (!track) {
    return {
      mode: 'explicit',
      active: () => undefined,
      with: (_value, fn, ...args) => fn(...args),
      bind: (_value, fn) => fn,
      observed: () => undefined,
    };
  }
  if (!hasAsyncLocalStorage()) return createSynchronousTracker<TValue>();
  const als = sharedStorage();
  return {
    mode: 'explicit',
    active: () => undefined,
    with: (value, fn, ...args) => als.run(value, fn, ...args),
    bind: (value, fn) => (...args) => als.run(value, fn, ...args),
    observed: () => als.getStore() as TValue | undefined,
  };
}

function createSynchronousTracker<TValue>(): ContextBackend<TValue> {
  let current: TValue | undefined;
  const withValue = <TArgs extends unknown[], TResult>(value: TValue | undefined, fn: (...args: TArgs) => TResult, ...args: TArgs): TResult => {
    const previous = current;
    current = value;
    try {
      return fn(...args);
    } finally {
      current = previous;
    }
  };
  return {
    mode: 'explicit',
    active: () => undefined,
    with: withValue,
    bind: (value, fn) => (...args) => withValue(value, fn, ...args),
    observed: () => current,
  };
}
