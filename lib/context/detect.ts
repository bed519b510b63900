import { hasAsyncContext } from './async-context';
import { hasAsyncLocalStorage } from './async-local-storage';
import type { PropagationMode } from './backend';

/**
 * The best propagation mode the runtime offers, the default: AsyncLocalStorage where it exists (Node, Bun,
 * Deno, Workers with `nodejs_als`), else the TC39 `AsyncContext`, else `'explicit'` (browsers today).
 */
export function bestPropagationMode(): PropagationMode {
  if (hasAsyncLocalStorage()) return 'async-local-storage';
  if (hasAsyncContext()) return 'async-context';
  return 'explicit';
}
