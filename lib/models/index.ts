export type { AIMessage, ChatMessage, ChatModelInput, MessageRole } from './messages';
export { BaseChatModel, type AIMessageChunk, type BaseChatModelOptions } from './base-chat-model';
export { FakeChatModel, type FakeChatModelOptions } from './fake-chat-model';
