import { HandlerSet, NO_HANDLERS } from './handler-set';
import type { CallbackHandler } from './handler';

/** Marks callscope's own bridge handler inside a LangChain manager, holding the callscope handlers it feeds. */
export const BRIDGED_HANDLERS: unique symbol = Symbol('callscope.bridgedHandlers');

/** The parts of a LangChain.js `CallbackManager` callscope reads. */
export interface LangChainManagerLike {
  readonly handlers: readonly unknown[];
  getParentRunId(): string | undefined;
}

/** True for a LangChain.js `CallbackManager` (as found in the config LangChain passes to functions). */
export function isLangChainManager(value: unknown): value is LangChainManagerLike {
  return (
    value !== null &&
    typeof value === 'object' &&
    Array.isArray((value as LangChainManagerLike).handlers) &&
    typeof (value as LangChainManagerLike).getParentRunId === 'function'
  );
}

/**
 * The handlers and parent run of a LangChain manager, as callscope takes them: LangChain handlers are
 * called directly (their signatures are callscope's), and callscope's own bridge is unwrapped back into the
 * callscope handlers it stands for.
 */
export function fromLangChainManager(manager: LangChainManagerLike): { handlers: HandlerSet; parentRunId: string | undefined } {
  let handlers = NO_HANDLERS;
  for (const handler of manager.handlers) {
    const bridged = (handler as { [BRIDGED_HANDLERS]?: HandlerSet })[BRIDGED_HANDLERS];
    handlers = handlers.union(bridged instanceof HandlerSet ? bridged : [handler as CallbackHandler]);
  }
  return { handlers, parentRunId: manager.getParentRunId() };
}
