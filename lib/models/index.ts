export {
  AIChatMessage,
  AIChatMessageChunk,
  BaseMessage,
  ChatGenerationChunk,
  HumanMessage,
  SystemMessage,
  ToolMessage,
  toMessages,
} from './messages';
export type {
  AIMessage,
  AIMessageFields,
  ChatMessage,
  ChatModelInput,
  LangChainMessageLike,
  MessageFields,
  MessageRole,
  MessageType,
  ToolCall,
  UsageMetadata,
} from './messages';
export { BaseChatModel, type AIMessageChunk, type BaseChatModelOptions, type LangSmithParams } from './base-chat-model';
export { FakeChatModel, type FakeChatModelOptions } from './fake-chat-model';
