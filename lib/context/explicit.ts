import { sharedStorage } from './async-local-storage';
import type { ContextBackend } from './backend';

/**
 * Carries nothing: a runnable sees only the config passed to it. This reproduces LangChain's behaviour on
 * runtimes without implicit context, and is what code must be written against to run where no
 * AsyncLocalStorage exists.
 *
 * @param track - keep the running run in the shared AsyncLocalStorage, without letting anything inherit
 *   it, so that a child invoked without config can be reported (`onLostCallbacks`).
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
  const als = sharedStorage();
  return {
    mode: 'explicit',
    active: () => undefined,
    with: (value, fn, ...args) => als.run(value, fn, ...args),
    bind: (value, fn) => (...args) => als.run(value, fn, ...args),
    observed: () => als.getStore() as TValue | undefined,
  };
}
