/**
 * `callscope/anthropic`: a chat model on Anthropic's Messages API through the official `@anthropic-ai/sdk`
 * (an optional peer, loaded on the first call).
 *
 * Every public name of this entry point is listed here.
 */
export { ChatAnthropic } from './chat-anthropic';
export type { ChatAnthropicOptions } from './chat-anthropic';
