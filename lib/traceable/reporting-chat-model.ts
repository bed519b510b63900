import { ConfigError } from '../errors';
import { BaseChatModel, type AIMessageChunk } from '../models/base-chat-model';
import { AIChatMessage, type ChatMessage } from '../models/messages';
import type { RunnableConfig } from '../runnables/config';

/**
 * The AI message a reported model call ends with, in the shape the core's chat models produce: every
 * reported run builds its message here, so a change of the core's message shape is made in one place.
 *
 * @internal
 */
export function reportedMessage(content: string, responseMetadata?: Record<string, unknown>): AIChatMessage {
  return new AIChatMessage(content, responseMetadata === undefined ? undefined : { response_metadata: responseMetadata });
}

/**
 * A chat model that calls no model: it stands for a model call made elsewhere (a traceable `llm` function,
 * an SDK client's request) so that the call's run is reported with exactly the events, message shapes and
 * `LLMResult` every other chat model of callscope produces. One instance per call, holding that call's
 * request parameters.
 *
 * @internal
 */
export class ReportingChatModel extends BaseChatModel {
  private readonly params: Record<string, unknown>;

  /**
   * @param name - the run's name, also the last entry of `serialized.id`.
   * @param params - the request's parameters, reported as `extraParams.invocation_params`.
   */
  constructor(name: string, params: Record<string, unknown>) {
    super({ name });
    this.params = params;
  }

  override invocationParams(): Record<string, unknown> {
    return this.params;
  }

  /**
   * Reports one text delta of the run whose scope is `config`.
   *
   * @returns a promise when a handler is async.
   * @throws {@link AbortError} when the run's signal has aborted; {@link RunEndedError} when the run is over.
   */
  reportToken(config: RunnableConfig, token: string): Promise<void> | undefined {
    return this.emitToken(config, token);
  }

  // Never called: the model call happens outside callscope, which only reports it.
  // eslint-disable-next-line require-yield, @typescript-eslint/require-await
  override async *_streamChunks(_messages: readonly ChatMessage[], _config: RunnableConfig): AsyncGenerator<AIMessageChunk, void, undefined> {
    throw new ConfigError('model', this.name, `\`${this.name}\` only reports calls made elsewhere and cannot be invoked.`, { code: 'INVALID_ARGUMENT' });
  }
}
