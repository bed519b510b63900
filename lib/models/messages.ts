import { ConfigError, describeValue } from '../errors';

/** Who wrote a message. `user` and `assistant` are accepted as aliases of `human` and `ai`. */
export type MessageRole = 'system' | 'human' | 'ai' | 'tool' | 'user' | 'assistant';

/** One chat message. */
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
export type ChatModelInput = string | readonly ChatMessage[];

const ROLES: ReadonlySet<string> = new Set(['system', 'human', 'ai', 'tool', 'user', 'assistant']);
// Every accepted role, for error messages: the list must never leave out one that works.
const ROLE_LIST = [...ROLES].map((role) => `'${role}'`).join(' | ');

/**
 * Normalises a chat model input to a list of messages.
 *
 * @throws {@link ConfigError} naming the first malformed message.
 */
export function toMessages(input: ChatModelInput): readonly ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'human', content: input }];
  if (!Array.isArray(input)) {
    throw new ConfigError(
      'input',
      input,
      `Expected chat model input to be a string or an array of { role, content } messages, got ${describeValue(input)}.`,
      { code: 'INVALID_ARGUMENT' },
    );
  }
  for (let i = 0; i < input.length; i++) {
    const message: unknown = input[i];
    const ok =
      message !== null &&
      typeof message === 'object' &&
      ROLES.has((message as ChatMessage).role) &&
      typeof (message as ChatMessage).content === 'string';
    if (!ok) {
      throw new ConfigError(
        `input[${i}]`,
        message,
        `Expected \`input[${i}]\` to be a message { role: ${ROLE_LIST}, content: string }, got ${describeValue(message)}.`,
        { code: 'INVALID_ARGUMENT' },
      );
    }
  }
  return input as readonly ChatMessage[];
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
