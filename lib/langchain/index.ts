/**
 * `callscope/langchain`: the bridge between callscope and LangChain.js runnables, in both directions. Needs
 * the optional peer `@langchain/core`. (A config LangChain.js passes to your function is recognised by the
 * core itself, without this entry point.)
 *
 * Every public name of this entry point is listed here.
 */
export { fromLangChain, LangChainRunnable, toLangChain } from './bridge';
export type { FromLangChainOptions, LangChainRunnableLike } from './bridge';
