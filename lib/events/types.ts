import type { LLMResult } from '../callbacks/handler';
import type { AIChatMessage, AIChatMessageChunk, ChatGenerationChunk, ChatMessage } from '../models/messages';

/** Fields every stream event has, whatever happened. */
export interface StreamEventBase<TEvent extends string, TData> {
  /** What happened: `on_<run type>_<start|stream|end|error>` or `on_custom_event`. */
  readonly event: TEvent;
  /** The run's name (for `on_custom_event`, the custom event's name). */
  readonly name: string;
  /** The run's id (for `on_custom_event`, the run that dispatched it). */
  readonly run_id: string;
  /** The run's tags, inherited ones included. */
  readonly tags: string[];
  /** The run's metadata, inherited keys included. */
  readonly metadata: Record<string, unknown>;
  /** The event's payload; its shape depends on `event`. */
  data: TData;
  /**
   * The ids of the run's ancestors within this stream, root first (`[]` for the root). LangChain Python's v2
   * schema has it; LangChain.js does not.
   */
  readonly parent_ids: string[];
}

/** The chat model's input as LangChain's tracers record it: one list of messages per prompt. */
export interface ChatModelEventInput {
  readonly messages: ChatMessage[][];
}

/** A text model's input as LangChain's tracers record it. */
export interface LLMEventInput {
  readonly prompts: string[];
}

/** A chain (runnable) run started. `input` is missing while a streamed step's input is still arriving. */
export type ChainStartEvent = StreamEventBase<'on_chain_start', { input?: unknown }>;
/** A chain run produced a chunk (runs executed in streaming mode only). */
export type ChainStreamEvent = StreamEventBase<'on_chain_stream', { chunk: unknown }>;
/** A chain run ended. */
export type ChainEndEvent = StreamEventBase<'on_chain_end', { output: unknown; input?: unknown }>;
/** A chain run failed (callscope only: LangChain.js emits nothing for it). */
export type ChainErrorEvent = StreamEventBase<'on_chain_error', { error: unknown; input?: unknown }>;
/** A chat model run started. */
export type ChatModelStartEvent = StreamEventBase<'on_chat_model_start', { input: ChatModelEventInput }>;
/** A chat model produced a token, as a message chunk. */
export type ChatModelStreamEvent = StreamEventBase<'on_chat_model_stream', { chunk: AIChatMessageChunk }>;
/** A chat model run ended with its message. */
export type ChatModelEndEvent = StreamEventBase<'on_chat_model_end', { output: AIChatMessage | undefined; input: ChatModelEventInput }>;
/** A chat model run failed (callscope only: LangChain.js emits nothing for it). */
export type ChatModelErrorEvent = StreamEventBase<'on_chat_model_error', { error: unknown; input: ChatModelEventInput }>;
/** A text model run started. */
export type LLMStartEvent = StreamEventBase<'on_llm_start', { input: LLMEventInput }>;
/** A text model produced a token. */
export type LLMStreamEvent = StreamEventBase<'on_llm_stream', { chunk: ChatGenerationChunk | { text: string } }>;
/** A text model run ended. */
export type LLMEndEvent = StreamEventBase<'on_llm_end', { output: LLMResult; input: LLMEventInput }>;
/** A text model run failed (callscope only). */
export type LLMErrorEvent = StreamEventBase<'on_llm_error', { error: unknown; input: LLMEventInput }>;
/** A tool run started. */
export type ToolStartEvent = StreamEventBase<'on_tool_start', { input: unknown }>;
/** A tool run, streamed as the root of `streamEvents`, produced its output. */
export type ToolStreamEvent = StreamEventBase<'on_tool_stream', { chunk: unknown }>;
/** A tool run ended. */
export type ToolEndEvent = StreamEventBase<'on_tool_end', { output: unknown; input: unknown }>;
/**
 * A tool run failed. As in LangChain.js, `error` is text: the message, a blank line, then the stack.
 */
export type ToolErrorEvent = StreamEventBase<'on_tool_error', { error: string; input: unknown }>;
/** A run dispatched a custom event (`dispatchCustomEvent`); `data` is the payload as given. */
export type CustomStreamEvent = StreamEventBase<'on_custom_event', unknown>;

/**
 * One event of `streamEvents` in LangChain's v2 schema, plus `parent_ids`. A union discriminated on
 * `event`: `if (e.event === 'on_chat_model_stream') e.data.chunk.content` type-checks.
 */
export type StreamEvent =
  | ChainStartEvent
  | ChainStreamEvent
  | ChainEndEvent
  | ChainErrorEvent
  | ChatModelStartEvent
  | ChatModelStreamEvent
  | ChatModelEndEvent
  | ChatModelErrorEvent
  | LLMStartEvent
  | LLMStreamEvent
  | LLMEndEvent
  | LLMErrorEvent
  | ToolStartEvent
  | ToolStreamEvent
  | ToolEndEvent
  | ToolErrorEvent
  | CustomStreamEvent;

/** The `event` names of {@link StreamEvent}. */
export type StreamEventName = StreamEvent['event'];

/**
 * Which runs' events `streamEvents` yields, with LangChain's semantics: with no `include*` rule every run
 * is included, otherwise a run is included when any include rule matches (ORed); then any matching
 * `exclude*` rule removes it. Types are `chain`, `chat_model`, `llm`, `tool`.
 */
export interface StreamEventsFilters {
  /** Include runs with one of these names. */
  includeNames?: readonly string[];
  /** Include runs of one of these types. */
  includeTypes?: readonly string[];
  /** Include runs with at least one of these tags. */
  includeTags?: readonly string[];
  /** Exclude runs with one of these names. */
  excludeNames?: readonly string[];
  /** Exclude runs of one of these types. */
  excludeTypes?: readonly string[];
  /** Exclude runs with at least one of these tags. */
  excludeTags?: readonly string[];
}
