import { delay } from '../platform';
import { AbortError } from '../errors';
import { lazySchema, parseOrThrow } from '../internal/validation';
import type { Callbacks, RunnableConfig } from '../runnables/config';
import { BaseChatModel, type AIMessageChunk, type LangSmithParams } from './base-chat-model';
import { AIChatMessage, AIChatMessageChunk, type ChatMessage } from './messages';

/** Options of {@link FakeChatModel}. */
export interface FakeChatModelOptions {
  /** What the model answers, in turn: the first call gets the first response, and so on, cycling. */
  responses: readonly string[];
  /**
   * Emit `handleLLMNewToken` for each token during `invoke` too (`stream` always does).
   * @default false
   */
  streaming?: boolean;
  /** Pause before each token, to imitate a real model's pace. @default 0 */
  tokenDelayMs?: number;
  /** Handlers for every run of this model. */
  callbacks?: Callbacks;
  /** Name of the model's runs. @default 'FakeChatModel' */
  name?: string;
}

const optionsSchema = lazySchema((z) =>
  z.strictObject({
    responses: z.array(z.string()).min(1),
    streaming: z.boolean().optional(),
    tokenDelayMs: z.number().finite().min(0).optional(),
    callbacks: z.unknown().optional(),
    name: z.string().min(1).optional(),
  }),
);

const expectations = {
  responses: 'a non-empty array of strings',
  streaming: 'a boolean',
  tokenDelayMs: 'a finite number of milliseconds, 0 or more',
  callbacks: 'an array of handlers or a CallbackManager',
  name: 'a non-empty string',
};

// A token is a run of whitespace followed by a word, or trailing whitespace: "Why don't" -> "Why", " don't".
const TOKEN = /\s*\S+|\s+/g;

/**
 * The embedded default chat model: deterministic, offline, no API key. It answers with the given responses
 * in turn and streams each as word-and-space tokens whose concatenation is exactly the response. Use it in
 * demos and tests, and anywhere a real model is not wanted.
 *
 * @example
 * ```ts
 * const model = new FakeChatModel({ responses: ["Why don't scientists trust atoms?"], streaming: true });
 * await model.invoke('Tell me a joke', { callbacks: [new TokenPrinter()] });
 * ```
 */
export class FakeChatModel extends BaseChatModel {
  /** The responses, in the order they are given. */
  readonly responses: readonly string[];
  /** Pause before each token, in milliseconds. */
  readonly tokenDelayMs: number;
  private readonly tokens: readonly (readonly string[])[];
  // Shared by copies made with withConfig/withCallbacks, so they continue the same cycle.
  private readonly cursor: { next: number };

  /** @throws {@link ConfigError} naming the first invalid option. */
  constructor(options: FakeChatModelOptions) {
    const parsed = parseOrThrow(optionsSchema(), options, 'FakeChatModel options', expectations);
    super({ streaming: parsed.streaming, callbacks: options.callbacks, name: parsed.name ?? 'FakeChatModel' });
    this.responses = Object.freeze([...parsed.responses]);
    this.tokenDelayMs = parsed.tokenDelayMs ?? 0;
    this.tokens = this.responses.map((response) => Object.freeze(response.match(TOKEN) ?? []));
    this.cursor = { next: 0 };
  }

  /** Splits `text` into the tokens this model streams. */
  static tokenize(text: string): string[] {
    return text.match(TOKEN) ?? [];
  }

  override invocationParams(): Record<string, unknown> {
    return { model: 'fake-chat-model', streaming: this.streaming, token_delay_ms: this.tokenDelayMs };
  }

  /** `{ ls_provider: 'fake', ls_model_name: 'fake-chat-model', ls_model_type: 'chat' }`. */
  override getLsParams(): LangSmithParams {
    return { ls_provider: 'fake', ls_model_name: 'fake-chat-model', ls_model_type: 'chat' };
  }

  /** @internal Token events go out in a plain loop; the run waits only for async handlers and delays. */
  override async _invoke(_input: unknown, config: RunnableConfig): Promise<AIChatMessage> {
    const index = this.takeIndex();
    const response = this.responses[index] as string;
    if (this.streamsTokens(config)) {
      const tokens = this.tokens[index] as readonly string[];
      for (const token of tokens) {
        if (this.tokenDelayMs > 0) await this.pause(config);
        const pending = this.emitToken(config, token);
        if (pending !== undefined) await pending;
      }
    }
    return new AIChatMessage(response);
  }

  override async *_streamChunks(_messages: readonly ChatMessage[], config: RunnableConfig): AsyncGenerator<AIMessageChunk, void, undefined> {
    const tokens = this.tokens[this.takeIndex()] as readonly string[];
    for (const token of tokens) {
      if (this.tokenDelayMs > 0) await this.pause(config);
      yield new AIChatMessageChunk(token);
    }
  }

  private takeIndex(): number {
    const index = this.cursor.next % this.responses.length;
    this.cursor.next = index + 1;
    return index;
  }

  private async pause(config: RunnableConfig): Promise<void> {
    try {
      await delay(this.tokenDelayMs, config.signal);
    } catch (error) {
      if (config.signal?.aborted) throw new AbortError(this.name, config.signal.reason);
      throw error;
    }
  }
}
