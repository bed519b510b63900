import type { ContextBackend } from './backend';

/**
 * Carries nothing: a runnable sees only the config passed to it. This reproduces LangChain's behaviour on
 * runtimes without implicit context, and is what code must be written against to run where no
 * AsyncLocalStorage exists.
 */
export function createExplicitBackend<TValue>(): ContextBackend<TValue> {
  return {
    mode: 'explicit',
    active: () => undefined,
    with: (_value, fn, ...args) => fn(...args),
    bind: (_value, fn) => fn,
  };
}
