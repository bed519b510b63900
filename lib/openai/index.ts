/**
 * `callscope/openai`: model calls of the official `openai` SDK client (an optional peer, never loaded by
 * callscope itself) reported as chat model runs.
 *
 * Every public name of this entry point is listed here.
 */
export { wrapOpenAI } from './wrap-openai';
export type { OpenAIClientLike, WrapOpenAIOptions } from './wrap-openai';
