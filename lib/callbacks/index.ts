export {
  AsyncCallbackHandler,
  BaseCallbackHandler,
  type CallbackHandler,
  type CallbackHandlerLike,
  type CallbackHandlerMethods,
  type CallbackHandlerOptions,
  type ChainEndFields,
  type ChainValues,
  type ChatGeneration,
  type HandlerMethodName,
  type LLMResult,
  type NewTokenFields,
  type NewTokenIndices,
  type Serialized,
} from './handler';
export { CallbackManager, type CallbackManagerOptions } from './callback-manager';
export { dispatchCustomEvent } from './custom-event';
export { awaitAllCallbacks, flushCallbacks } from './await-all';
