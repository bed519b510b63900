import { ConfigError, describeValue } from '../errors';

/** Who wrote a message. `user` and `assistant` are accepted as aliases of `human` and `ai`. */
export type MessageRole = 'system' | 'human' | 'ai' | 'tool' | 'user' | 'assistant';

/** One chat message, as callscope code writes it: a role and a text. */
export interface ChatMessage {
  /** Who wrote it. */
  readonly role: MessageRole;
  /** Its text. */
  readonly content: string;
}

/** A message written by the model: what chat models return and stream. */
export interface AIMessage extends ChatMessage {
  readonly role: 'ai';
}

/** What a chat model accepts: a single human turn as a string, or a list of messages. */
export type ChatModelInput = string | readonly (ChatMessage | LangChainMessageLike)[];

/** LangChain's name for a message's kind, what `getType()` returns. */
export type MessageType = 'human' | 'ai' | 'system' | 'tool';

/** Token counts of a model response, in LangChain's `usage_metadata` shape. */
export interface UsageMetadata {
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly total_tokens: number;
}

/**
 * A message built by LangChain.js (or anything shaped like one): accepted as chat model input. Only what
 * callscope reads is listed.
 */
export interface LangChainMessageLike {
  _getType(): string;
  readonly content: unknown;
  readonly text?: string;
  readonly id?: string;
  readonly name?: string;
  readonly additional_kwargs?: Record<string, unknown>;
  readonly response_metadata?: Record<string, unknown>;
  readonly tool_call_id?: string;
}

/** Optional fields of a message, with LangChain's names. */
export interface MessageFields {
  /** The message's id. */
  id?: string;
  /** The name of its author (a user, or the tool that answered). */
  name?: string;
  /** Provider fields that are not part of the content. */
  additional_kwargs?: Record<string, unknown>;
  /** Provider details about the response, such as the stop reason or token usage. */
  response_metadata?: Record<string, unknown>;
}

// LangChain's `BaseMessage.isInstance` looks for this registered symbol, so `instanceof BaseMessage` of
// @langchain/core holds for callscope's messages too.
const LANGCHAIN_MESSAGE = Symbol.for('langchain.message');
const NAMESPACE: readonly string[] = Object.freeze(['langchain_core', 'messages']);

// Fields that only some messages carry live on the prototype as accessors with a default, and become own
// properties only when set: a message is created with two own properties (`role`, `content`), which keeps the
// per-token chunks cheap and their own shape the `{ role, content }` callscope always had.
function shadow(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

function optionalField(proto: object, key: string, fallback: (self: BaseMessage) => unknown): void {
  Object.defineProperty(proto, key, {
    configurable: true,
    enumerable: false,
    get(this: BaseMessage) {
      return fallback(this);
    },
    set(this: BaseMessage, value: unknown) {
      shadow(this, key, value);
    },
  });
}

/**
 * Base class of callscope's messages. It has LangChain.js's message surface (`getType()`, `type`, `text`,
 * `additional_kwargs`, `response_metadata`, `lc_kwargs`, a `toJSON()` in LangChain's serialized form...), so
 * handlers written for LangChain (Langfuse, OpenInference, LangSmith) read it as they read LangChain's own,
 * and it keeps callscope's `{ role, content }`. Built by callscope for handlers and results; you can also
 * build one, or pass plain `{ role, content }` objects.
 */
export abstract class BaseMessage implements ChatMessage {
  /** Who wrote it, as callscope names it (`human`, `ai`, `system`, `tool`, or an alias). */
  readonly role: MessageRole;
  /** Its text. */
  content: string;
  /** @internal Set when the message is created with one; see {@link MessageFields}. */
  declare id: string | undefined;
  /** The name of its author, when given. */
  declare name: string | undefined;
  /** Provider fields that are not part of the content (`{}` when none). */
  declare additional_kwargs: Record<string, unknown>;
  /** Provider details about the response (`{}` when none). */
  declare response_metadata: Record<string, unknown>;
  /** callscope's name for provider details about a response; `response_metadata` reads the same object. */
  declare responseMetadata: Record<string, unknown> | undefined;

  /**
   * @param role - who wrote it.
   * @param content - its text.
   * @param fields - optional id, name, additional_kwargs, response_metadata.
   */
  constructor(role: MessageRole, content: string, fields?: MessageFields) {
    this.role = role;
    this.content = content;
    if (fields !== undefined) this.assign(fields);
  }

  /** LangChain's kind of message: `human`, `ai`, `system` or `tool`. */
  abstract get type(): MessageType;

  /** The class name LangChain serializes this message as (`AIMessageChunk`, `HumanMessage`...). */
  protected abstract get lcName(): string;

  /** The message's kind (LangChain's method). @returns `human`, `ai`, `system` or `tool`. */
  getType(): MessageType {
    return this.type;
  }

  /** The message's kind (LangChain's older method name). @returns `human`, `ai`, `system` or `tool`. */
  _getType(): MessageType {
    return this.type;
  }

  /** The message's text. */
  get text(): string {
    return this.content;
  }

  /** LangChain's serialization flag: messages serialize as constructor calls. */
  get lc_serializable(): boolean {
    return true;
  }

  /** LangChain's namespace of message classes. */
  get lc_namespace(): string[] {
    return [...NAMESPACE];
  }

  /** LangChain's id of this message's class, `['langchain_core', 'messages', <class>]`. */
  get lc_id(): string[] {
    return [...NAMESPACE, this.lcName];
  }

  /** The fields LangChain would construct this message from. */
  get lc_kwargs(): Record<string, unknown> {
    const kwargs: Record<string, unknown> = { content: this.content };
    if (this.id !== undefined) kwargs.id = this.id;
    if (this.name !== undefined) kwargs.name = this.name;
    this.addKwargs(kwargs);
    kwargs.additional_kwargs = this.additional_kwargs;
    kwargs.response_metadata = this.response_metadata;
    return kwargs;
  }

  /**
   * LangChain's serialized form, `{ lc: 1, type: 'constructor', id: [...], kwargs: {...} }`: what LangSmith
   * and other LangChain tracers store for a message.
   */
  toJSON(): { lc: 1; type: 'constructor'; id: string[]; kwargs: Record<string, unknown> } {
    return { lc: 1, type: 'constructor', id: this.lc_id, kwargs: this.lc_kwargs };
  }

  /** LangChain's `toDict()`: `{ type, data }`. */
  toDict(): { type: MessageType; data: Record<string, unknown> } {
    return { type: this.type, data: this.lc_kwargs };
  }

  /** @internal Adds the kwargs of a subclass. */
  protected addKwargs(kwargs: Record<string, unknown>): void {
    void kwargs;
  }

  /** @internal */
  protected assign(fields: MessageFields): void {
    if (fields.id !== undefined) shadow(this, 'id', fields.id);
    if (fields.name !== undefined) shadow(this, 'name', fields.name);
    if (fields.additional_kwargs !== undefined) shadow(this, 'additional_kwargs', fields.additional_kwargs);
    if (fields.response_metadata !== undefined) shadow(this, 'responseMetadata', fields.response_metadata);
  }
}

const proto = BaseMessage.prototype as object;
Object.defineProperty(proto, LANGCHAIN_MESSAGE, { value: true, enumerable: false });
optionalField(proto, 'id', () => undefined);
optionalField(proto, 'name', () => undefined);
optionalField(proto, 'additional_kwargs', () => ({}));
optionalField(proto, 'responseMetadata', () => undefined);
Object.defineProperty(proto, 'response_metadata', {
  configurable: true,
  get(this: BaseMessage) {
    return this.responseMetadata ?? {};
  },
  set(this: BaseMessage, value: Record<string, unknown>) {
    shadow(this, 'responseMetadata', value);
  },
});

/** A message written by a person. */
export class HumanMessage extends BaseMessage {
  /** @param content - its text. @param fields - optional LangChain fields. */
  constructor(content: string, fields?: MessageFields & { role?: 'human' | 'user' }) {
    super(fields?.role ?? 'human', content, fields);
  }
  override get type(): 'human' {
    return 'human';
  }
  protected override get lcName(): string {
    return 'HumanMessage';
  }
}

/** Instructions for the model. */
export class SystemMessage extends BaseMessage {
  /** @param content - its text. @param fields - optional LangChain fields. */
  constructor(content: string, fields?: MessageFields) {
    super('system', content, fields);
  }
  override get type(): 'system' {
    return 'system';
  }
  protected override get lcName(): string {
    return 'SystemMessage';
  }
}

/** The result of a tool call, sent back to the model. */
export class ToolMessage extends BaseMessage {
  /** The id of the tool call this answers (`''` when unknown). */
  declare tool_call_id: string;
  /** @param content - its text. @param fields - optional LangChain fields, and `tool_call_id`. */
  constructor(content: string, fields?: MessageFields & { tool_call_id?: string }) {
    super('tool', content, fields);
    if (fields?.tool_call_id !== undefined) shadow(this, 'tool_call_id', fields.tool_call_id);
  }
  override get type(): 'tool' {
    return 'tool';
  }
  protected override get lcName(): string {
    return 'ToolMessage';
  }
  protected override addKwargs(kwargs: Record<string, unknown>): void {
    kwargs.tool_call_id = this.tool_call_id;
  }
}
optionalField(ToolMessage.prototype, 'tool_call_id', () => '');

/** A tool call requested by the model, in LangChain's shape. */
export interface ToolCall {
  readonly name: string;
  readonly args: Record<string, unknown>;
  readonly id?: string;
  readonly type?: 'tool_call';
}

/** Fields of an AI message beyond the common ones. */
export interface AIMessageFields extends MessageFields {
  /** Tool calls the model asked for. */
  tool_calls?: ToolCall[];
  /** Token counts; by default worked out from `response_metadata.usage` when it holds them. */
  usage_metadata?: UsageMetadata;
}

/**
 * A message written by the model: what a chat model's `invoke` resolves with. Reads as LangChain's
 * `AIMessage` to LangChain handlers, and as `{ role: 'ai', content }` to callscope code.
 */
export class AIChatMessage extends BaseMessage implements AIMessage {
  declare readonly role: 'ai';
  /** Tool calls the model asked for (`[]` when none). */
  declare tool_calls: ToolCall[];
  /** Tool calls that could not be parsed (always `[]`). */
  declare invalid_tool_calls: unknown[];
  /** Token counts, when the provider reported them. */
  declare usage_metadata: UsageMetadata | undefined;

  /** @param content - its text. @param fields - optional LangChain fields. */
  constructor(content: string, fields?: AIMessageFields) {
    super('ai', content, fields);
    if (fields?.tool_calls !== undefined) shadow(this, 'tool_calls', fields.tool_calls);
    if (fields?.usage_metadata !== undefined) shadow(this, 'usage_metadata', fields.usage_metadata);
  }
  override get type(): 'ai' {
    return 'ai';
  }
  protected override get lcName(): string {
    return 'AIMessage';
  }
  protected override addKwargs(kwargs: Record<string, unknown>): void {
    kwargs.tool_calls = this.tool_calls;
    kwargs.invalid_tool_calls = this.invalid_tool_calls;
    const usage = this.usage_metadata;
    if (usage !== undefined) kwargs.usage_metadata = usage;
  }
}
optionalField(AIChatMessage.prototype, 'tool_calls', () => []);
optionalField(AIChatMessage.prototype, 'invalid_tool_calls', () => []);
optionalField(AIChatMessage.prototype, 'usage_metadata', (self) => usageFrom(self.responseMetadata));

/**
 * A piece of a streamed AI message: what `stream()` yields and what token events carry. `concat` joins two
 * pieces, as LangChain's `AIMessageChunk.concat` does.
 */
export class AIChatMessageChunk extends AIChatMessage {
  /** Pieces of tool calls (always `[]`). */
  declare tool_call_chunks: unknown[];

  protected override get lcName(): string {
    return 'AIMessageChunk';
  }

  protected override addKwargs(kwargs: Record<string, unknown>): void {
    super.addKwargs(kwargs);
    kwargs.tool_call_chunks = this.tool_call_chunks;
  }

  /**
   * Joins this chunk and the next: texts concatenated, metadata merged (later keys win).
   *
   * @param next - the following chunk (a callscope or LangChain chunk, or `{ content }`).
   * @returns a new chunk.
   */
  concat(next: { readonly content: unknown; readonly responseMetadata?: Record<string, unknown>; readonly response_metadata?: Record<string, unknown>; readonly id?: string }): AIChatMessageChunk {
    const text = typeof next.content === 'string' ? next.content : '';
    const joined = new AIChatMessageChunk(this.content + text);
    const mine = this.responseMetadata;
    const theirs = next instanceof BaseMessage ? next.responseMetadata : nonEmpty(next.response_metadata ?? next.responseMetadata);
    if (mine !== undefined || theirs !== undefined) shadow(joined, 'responseMetadata', { ...mine, ...theirs });
    const id = this.id ?? next.id;
    if (id !== undefined) shadow(joined, 'id', id);
    return joined;
  }
}
optionalField(AIChatMessageChunk.prototype, 'tool_call_chunks', () => []);

function nonEmpty(value: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  return value === undefined || Object.keys(value).length === 0 ? undefined : value;
}

/** Works out LangChain's `usage_metadata` from a provider's `usage` (Anthropic's or OpenAI's field names). */
function usageFrom(metadata: Record<string, unknown> | undefined): UsageMetadata | undefined {
  const usage = metadata?.usage;
  if (usage === null || typeof usage !== 'object') return undefined;
  const counts = usage as Record<string, unknown>;
  const input = counts.input_tokens ?? counts.prompt_tokens;
  const output = counts.output_tokens ?? counts.completion_tokens;
  if (typeof input !== 'number' || typeof output !== 'number') return undefined;
  return { input_tokens: input, output_tokens: output, total_tokens: input + output };
}

/**
 * A streamed piece of a generation, LangChain's `ChatGenerationChunk`: the `chunk` a token event carries,
 * holding the token's text and message chunk.
 */
export class ChatGenerationChunk {
  /** The token's text. */
  readonly text: string;
  /** The token as an AI message chunk. */
  readonly message: AIChatMessageChunk;
  /** Provider details that came with this piece. */
  declare readonly generationInfo: Record<string, unknown> | undefined;

  /** @param text - the token. @param message - the token as a message chunk. */
  constructor(text: string, message: AIChatMessageChunk) {
    this.text = text;
    this.message = message;
  }

  /** Joins this piece and the next. @returns a new generation chunk. */
  concat(next: ChatGenerationChunk): ChatGenerationChunk {
    const joined = new ChatGenerationChunk(this.text + next.text, this.message.concat(next.message));
    if (this.generationInfo !== undefined || next.generationInfo !== undefined) {
      shadow(joined, 'generationInfo', { ...this.generationInfo, ...next.generationInfo });
    }
    return joined;
  }
}
Object.defineProperty(ChatGenerationChunk.prototype, 'generationInfo', { configurable: true, value: undefined, writable: true });

const ROLES: ReadonlySet<string> = new Set(['system', 'human', 'ai', 'tool', 'user', 'assistant']);

/**
 * Makes a callscope message of a plain `{ role, content }` object, a LangChain.js message, or a callscope
 * message (returned as is).
 *
 * @returns the message, or `undefined` when `value` is none of those.
 */
export function toMessage(value: unknown): BaseMessage | undefined {
  if (value instanceof BaseMessage) return value;
  if (value === null || typeof value !== 'object') return undefined;
  const candidate = value as Partial<ChatMessage> & Partial<LangChainMessageLike>;
  if (typeof candidate.role === 'string' && ROLES.has(candidate.role) && typeof candidate.content === 'string') {
    return messageOf(candidate.role, candidate.content, candidate);
  }
  if (typeof candidate._getType === 'function') {
    const type = candidate._getType();
    if (!ROLES.has(type)) return undefined;
    const content = typeof candidate.content === 'string' ? candidate.content : typeof candidate.text === 'string' ? candidate.text : undefined;
    if (content === undefined) return undefined;
    return messageOf(type as MessageRole, content, candidate);
  }
  return undefined;
}

function messageOf(role: MessageRole, content: string, source: Partial<LangChainMessageLike> & { responseMetadata?: Record<string, unknown> }): BaseMessage {
  const fields: MessageFields & { tool_call_id?: string } = {};
  if (typeof source.id === 'string') fields.id = source.id;
  if (typeof source.name === 'string') fields.name = source.name;
  if (source.additional_kwargs !== undefined && Object.keys(source.additional_kwargs).length > 0) fields.additional_kwargs = source.additional_kwargs;
  const metadata = source.responseMetadata ?? source.response_metadata;
  if (metadata !== undefined && Object.keys(metadata).length > 0) fields.response_metadata = metadata;
  switch (role) {
    case 'human':
    case 'user':
      return new HumanMessage(content, { ...fields, role });
    case 'system':
      return new SystemMessage(content, fields);
    case 'tool':
      if (typeof source.tool_call_id === 'string') fields.tool_call_id = source.tool_call_id;
      return new ToolMessage(content, fields);
    case 'ai':
    case 'assistant':
      return role === 'ai' ? new AIChatMessage(content, fields) : assistant(content, fields);
  }
}

// `assistant` is kept as the role so callscope code reading `role` sees what it wrote.
function assistant(content: string, fields: MessageFields): AIChatMessage {
  const message = new AIChatMessage(content, fields);
  (message as { role: MessageRole }).role = 'assistant';
  return message;
}

/**
 * Normalises a chat model input to a list of messages with LangChain's surface: a string is one human
 * message; plain `{ role, content }` objects and LangChain.js messages are converted.
 *
 * @throws {@link ConfigError} naming the first malformed message.
 */
export function toMessages(input: ChatModelInput): BaseMessage[] {
  if (typeof input === 'string') return [new HumanMessage(input)];
  if (!Array.isArray(input)) {
    throw new ConfigError(
      'input',
      input,
      `Expected chat model input to be a string or an array of { role, content } messages, got ${describeValue(input)}.`,
      { code: 'INVALID_ARGUMENT' },
    );
  }
  const messages: BaseMessage[] = new Array<BaseMessage>(input.length);
  for (let i = 0; i < input.length; i++) {
    const message = toMessage(input[i]);
    if (message === undefined) {
      throw new ConfigError(
        `input[${i}]`,
        input[i],
        `Expected \`input[${i}]\` to be a message { role: 'system' | 'human' | 'ai' | 'tool', content: string } or a LangChain message, got ${describeValue(input[i])}.`,
        { code: 'INVALID_ARGUMENT' },
      );
    }
    messages[i] = message;
  }
  return messages;
}

/**
 * Renders messages as LangChain's buffer string ("Human: hi\nAI: hello"), the prompt handed to handlers
 * that implement `handleLLMStart` but not `handleChatModelStart`.
 */
export function toBufferString(messages: readonly ChatMessage[]): string {
  return messages.map((m) => `${rolePrefix(m.role)}: ${m.content}`).join('\n');
}

function rolePrefix(role: MessageRole): string {
  switch (role) {
    case 'human':
    case 'user':
      return 'Human';
    case 'ai':
    case 'assistant':
      return 'AI';
    case 'system':
      return 'System';
    case 'tool':
      return 'Tool';
  }
}
