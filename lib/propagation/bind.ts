import type { EventEmitter } from 'node:events';
import { ConfigError, describeValue } from '../errors';
import { namesRun, type RunnableConfig, type RunScope } from '../runnables/config';
import { currentBackend } from '../settings';

/**
 * The config of the run active here, as its body received it, or `undefined` outside any run (and always in
 * `'explicit'` mode, where nothing is active implicitly). A run nobody can observe (no config, no run active,
 * nothing bound) opens no context, so inside it this is `undefined` too. Use it to hand the run over by hand where context
 * cannot follow: pass it to `invoke` on the far side of a boundary that loses context, or read its
 * `callbacks.parentRunId`, `tags` and `metadata` to forward them to a worker or another process.
 *
 * @returns the active run's config, or `undefined`.
 * @example
 * ```ts
 * const config = getCurrentConfig();
 * pool.acquire((connection) => lookup.invoke(connection, config)); // the pool's queue loses context
 * ```
 */
export function getCurrentConfig(): RunnableConfig | undefined {
  const scope = currentBackend<RunScope>().active();
  // Background handlers are called in a marker context that names no run (see run.ts): that is no run.
  return scope === undefined || !namesRun(scope) ? undefined : scope;
}

/**
 * Binds `fn` to the run active now: wherever and whenever it is called later (a pooled resource's queue, an
 * `AbortSignal` listener, a callback handed to a library), runnables it invokes link to that run. Outside any
 * run, or in `'explicit'` mode, it binds to "no run".
 *
 * It is a closure over the captured context, not `AsyncLocalStorage.bind`/`snapshot`, which cost far more
 * per call.
 *
 * @param fn - the function to bind.
 * @returns a function with the same parameters and result.
 * @throws {@link ConfigError} when `fn` is not a function.
 * @example
 * ```ts
 * signal.addEventListener('abort', bindToCurrentContext(() => cleanup.invoke(reason)));
 * ```
 */
export function bindToCurrentContext<TArgs extends unknown[], TResult>(fn: (...args: TArgs) => TResult): (...args: TArgs) => TResult {
  if (typeof fn !== 'function') {
    throw new ConfigError('fn', fn, `Expected bindToCurrentContext() to receive a function, got ${describeValue(fn)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  const backend = currentBackend<RunScope>();
  return backend.bind(backend.observed(), fn);
}

type Listener = (...args: unknown[]) => unknown;
const ADD_METHODS = ['on', 'addListener', 'prependListener', 'once', 'prependOnceListener'] as const;
const REMOVE_METHODS = ['off', 'removeListener'] as const;
const boundEmitters = new WeakSet<EventEmitter>();

/**
 * Makes every listener added to `emitter` from now on run in the context active now, instead of in the
 * context of whoever calls `emit` (which may be no run at all). Each listener is still called with the
 * `this` and arguments the emitter passes, so Node's own listeners (on an `IncomingMessage`, a socket)
 * keep working. `removeListener`/`off` and `once` keep working with the original functions.
 *
 * @param emitter - the emitter to bind; it is changed in place (its listener methods are wrapped).
 * @returns the same emitter.
 * @throws {@link ConfigError} when `emitter` is not an EventEmitter, or is already bound.
 * @example
 * ```ts
 * const socket = bindEmitter(connect());
 * socket.on('data', (chunk) => parse.invoke(chunk)); // linked to the run that bound the socket
 * ```
 */
export function bindEmitter<TEmitter extends EventEmitter>(emitter: TEmitter): TEmitter {
  const target = emitter as unknown as Record<string, unknown>;
  if (emitter === null || typeof emitter !== 'object' || typeof target.on !== 'function' || typeof target.removeListener !== 'function') {
    throw new ConfigError('emitter', emitter, `Expected bindEmitter() to receive an EventEmitter, got ${describeValue(emitter)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  if (boundEmitters.has(emitter)) {
    throw new ConfigError('emitter', emitter, 'This emitter is already bound to a context by bindEmitter(); bind each emitter once.', {
      code: 'INVALID_ARGUMENT',
    });
  }
  boundEmitters.add(emitter);
  const backend = currentBackend<RunScope>();
  const scope = backend.observed();
  // Per event, per original listener: the wrappers added for it, most recent last.
  const wrappers = new Map<string | symbol, Map<Listener, Listener[]>>();
  // EventEmitter's once() adds its own wrapper through this.on(): pass such inner calls straight through,
  // or the once-wrapper would be wrapped again and removeListener(original) could not find it.
  let adding = false;

  for (const method of ADD_METHODS) {
    const original = target[method] as (event: string | symbol, listener: Listener) => TEmitter;
    target[method] = function addBound(this: TEmitter, event: string | symbol, listener: Listener): TEmitter {
      if (adding || typeof listener !== 'function') return original.call(this, event, listener);
      // Keep the `this` the emitter calls the listener with: Node's own listeners rely on it (an
      // IncomingMessage's clearIncoming reads the request from `this`), and so do `function` listeners.
      const wrapped = function boundListener(this: unknown, ...args: unknown[]): unknown {
        return backend.with(scope, Reflect.apply, listener, this, args);
      };
      let byListener = wrappers.get(event);
      if (byListener === undefined) wrappers.set(event, (byListener = new Map<Listener, Listener[]>()));
      const list = byListener.get(listener) ?? [];
      list.push(wrapped);
      byListener.set(listener, list);
      adding = true;
      try {
        return original.call(this, event, wrapped);
      } finally {
        adding = false;
      }
    };
  }
  for (const method of REMOVE_METHODS) {
    const original = target[method] as (event: string | symbol, listener: Listener) => TEmitter;
    target[method] = function removeBound(this: TEmitter, event: string | symbol, listener: Listener): TEmitter {
      const list = wrappers.get(event)?.get(listener);
      const wrapped = list?.pop();
      if (list !== undefined && list.length === 0) wrappers.get(event)?.delete(listener);
      return original.call(this, event, wrapped ?? listener);
    };
  }
  const removeAll = target.removeAllListeners as (event?: string | symbol) => TEmitter;
  target.removeAllListeners = function removeAllBound(this: TEmitter, ...args: [event?: string | symbol]): TEmitter {
    if (args.length === 0) wrappers.clear();
    else wrappers.delete(args[0] as string | symbol);
    return removeAll.apply(this, args);
  };
  return emitter;
}
