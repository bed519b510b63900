import type * as ClsHooked from 'cls-hooked';
import { CallscopeError } from '../errors';
import { requireFromLibrary } from '../platform';
import type { ContextBackend } from './backend';

const NAMESPACE = 'callscope';
const KEY = 'scope';

/**
 * Carries the active run in a `cls-hooked` namespace. `cls-hooked` is required here, on first use, and never
 * at import: loading it installs a global async hook that slows every promise in the process.
 *
 * @throws {@link CallscopeError} with code `BACKEND_UNAVAILABLE` when `cls-hooked` cannot be loaded.
 */
export function createClsHookedBackend<TValue>(): ContextBackend<TValue> {
  const namespace = loadNamespace();
  const withValue = <TArgs extends unknown[], TResult>(
    value: TValue | undefined,
    fn: (...args: TArgs) => TResult,
    ...args: TArgs
  ): TResult =>
    namespace.runAndReturn(() => {
      namespace.set(KEY, value);
      return fn(...args);
    });
  const active = (): TValue | undefined => (namespace.active ? (namespace.get(KEY) as TValue | undefined) : undefined);
  return {
    mode: 'cls-hooked',
    active,
    with: withValue,
    bind: (value, fn) => (...args) => withValue(value, fn, ...args),
    observed: active,
    observedIsActive: true,
    outside: (fn, arg) => withValue(undefined, fn, arg),
  };
}

function loadNamespace(): ClsHooked.Namespace {
  let cls: typeof ClsHooked;
  try {
    // Deliberately lazy, see above (the platform module requires it relative to callscope's own files).
    cls = requireFromLibrary('cls-hooked') as typeof ClsHooked;
  } catch (error) {
    throw new CallscopeError(
      'BACKEND_UNAVAILABLE',
      "The 'cls-hooked' propagation mode needs the `cls-hooked` package, which could not be loaded. Install it (`npm install cls-hooked`) or use propagation 'async-local-storage'.",
      { cause: error },
    );
  }
  return cls.getNamespace(NAMESPACE) ?? cls.createNamespace(NAMESPACE);
}
