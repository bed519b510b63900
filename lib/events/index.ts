export { EVENT_BUFFER_SIZE, streamEventsOf, type StreamEventsOptions } from './stream-events';
export { pipeEventStream, toEventStreamResponse } from './sse';
export type { EventStreamResponseInit, EventStreamSource, EventStreamTarget } from './sse';
export type {
  ChainEndEvent,
  ChainErrorEvent,
  ChainStartEvent,
  ChainStreamEvent,
  ChatModelEndEvent,
  ChatModelErrorEvent,
  ChatModelEventInput,
  ChatModelStartEvent,
  ChatModelStreamEvent,
  CustomStreamEvent,
  LLMEndEvent,
  LLMErrorEvent,
  LLMEventInput,
  LLMStartEvent,
  LLMStreamEvent,
  StreamEvent,
  StreamEventBase,
  StreamEventName,
  StreamEventsFilters,
  ToolEndEvent,
  ToolErrorEvent,
  ToolStartEvent,
  ToolStreamEvent,
} from './types';
