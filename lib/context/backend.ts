/** How context travels from a run to the runs started below it. */
export type PropagationMode = 'async-local-storage' | 'cls-hooked' | 'explicit' | 'async-context';

/**
 * A context backend carries one immutable value (the active run's child config) across async boundaries.
 * The shape follows OpenTelemetry's context manager: read the active value, run a function with a value,
 * bind a function to a value.
 */
export interface ContextBackend<TValue> {
  /** Which propagation mode this backend implements. */
  readonly mode: PropagationMode;
  /** The value active at this point of execution, or `undefined` outside any run. */
  active(): TValue | undefined;
  /**
   * Calls `fn(...args)` with `value` active, and restores the previous value when `fn` returns or throws.
   * Asynchronous work started by `fn` keeps `value` for as long as the backend can follow it.
   */
  with<TArgs extends unknown[], TResult>(value: TValue | undefined, fn: (...args: TArgs) => TResult, ...args: TArgs): TResult;
  /** Returns a function that calls `fn` with `value` active, wherever and whenever it is called. */
  bind<TArgs extends unknown[], TResult>(value: TValue | undefined, fn: (...args: TArgs) => TResult): (...args: TArgs) => TResult;
  /**
   * The value a run set, even where the backend does not let runs inherit it: the `'explicit'` backend with
   * diagnostics on tracks runs only to tell when a child would lose its parent. Equals `active()` elsewhere.
   */
  observed(): TValue | undefined;
  /**
   * Whether `observed()` always returns what `active()` does (every backend but the `'explicit'` one that
   * tracks runs for diagnostics): a caller that has just read `active()` needs not read again. On Node 20
   * each read of an AsyncLocalStorage costs a lookup of the current async resource, and more so in a
   * server, where those resources have many shapes.
   */
  readonly observedIsActive: boolean;
  /**
   * Calls `fn(arg)` with no value active: where handlers run, so that a run they start is a root of its
   * own. The same as `with(undefined, fn, arg)`, but called for every event (every token), so backends make
   * it cheap where they can: one argument, so that no call spreads an argument list.
   */
  outside<TArg, TResult>(fn: (arg: TArg) => TResult, arg: TArg): TResult;
}
