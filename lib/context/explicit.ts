import { hasAsyncLocalStorage, outsideOf, sharedStorage } from './async-local-storage';
import type { ContextBackend } from './backend';

/**
 * Carries nothing: a runnable sees only the config passed to it. This reproduces LangChain's behaviour on
 * runtimes without implicit context, and is what code must be written against to run where no
 * AsyncLocalStorage exists.
 *
 * @param track - keep the running run in the shared AsyncLocalStorage, without letting anything inherit
 *   it, so that a child invoked without config can be reported (`onLostCallbacks`). Where the runtime has
 *   no AsyncLocalStorage (a browser), the newest run whose body has not settled stands for the caller.
 */
export function createExplicitBackend<TValue>(track = false): ContextBackend<TValue> {
  if (!track) {
    return {
      mode: 'explicit',
      active: () => undefined,
      with: (_value, fn, ...args) => fn(...args),
      bind: (_value, fn) => fn,
      observed: () => undefined,
      observedIsActive: true,
      outside: (fn, arg) => fn(arg),
    };
  }
  if (!hasAsyncLocalStorage()) return createInFlightTracker<TValue>();
  const als = sharedStorage();
  return {
    mode: 'explicit',
    active: () => undefined,
    with: (value, fn, ...args) => als.run(value, fn, ...args),
    bind: (value, fn) => (...args) => als.run(value, fn, ...args),
    observed: () => als.getStore() as TValue | undefined,
    observedIsActive: false,
    outside: outsideOf(als),
  };
}

function createInFlightTracker<TValue>(): ContextBackend<TValue> {
  // Without AsyncLocalStorage nothing says which run an `await` continuation belongs to. What is known: the
  // run whose body is running synchronously now, else the runs whose bodies have started and not settled.
  // The newest of those is taken as the caller: right for one root run at a time (how diagnostics are used
  // in tests), approximate when unrelated root runs overlap.
  let current: TValue | undefined;
  const inFlight: TValue[] = [];
  const withValue = <TArgs extends unknown[], TResult>(value: TValue | undefined, fn: (...args: TArgs) => TResult, ...args: TArgs): TResult => {
    const previous = current;
    current = value;
    let result: TResult;
    try {
      result = fn(...args);
    } finally {
      current = previous;
    }
    if (value !== undefined && result instanceof Promise) {
      inFlight.push(value);
      const settled = (): void => {
        const index = inFlight.lastIndexOf(value);
        if (index >= 0) inFlight.splice(index, 1);
      };
      result.then(settled, settled);
    }
    return result;
  };
  return {
    mode: 'explicit',
    active: () => undefined,
    with: withValue,
    bind: (value, fn) => (...args) => withValue(value, fn, ...args),
    observed: () => current ?? inFlight[inFlight.length - 1],
    observedIsActive: false,
    outside: (fn, arg) => withValue(undefined, fn, arg),
  };
}
