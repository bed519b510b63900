export { fromLangChain, LangChainRunnable, toLangChain, type FromLangChainOptions, type LangChainRunnableLike } from './bridge';
export type { LangChainManagerLike } from './foreign-manager';
