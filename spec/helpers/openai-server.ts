import type { ServerResponse } from 'node:http';
import { FakeAnthropicServer, sendJson, write, type Reply } from './anthropic-server';

/**
 * A loopback HTTP server for the `openai` SDK's tests: the same queued-replies server as the Anthropic one
 * (it records requests and answers each with the next {@link Reply}); the builders below speak the Chat
 * Completions and Responses wire protocols.
 */
export class FakeOpenAIServer extends FakeAnthropicServer {
  /** The base URL to give the OpenAI client (the SDK appends `/chat/completions`, `/responses`). */
  override get baseURL(): string {
    return `${super.baseURL}/v1`;
  }
}

export { deferred, sendJson, write, type RecordedRequest, type Reply } from './anthropic-server';

interface CompletionOptions {
  id?: string;
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  finishReason?: string;
}

function usage(options: CompletionOptions): Record<string, number> {
  const prompt = options.promptTokens ?? 10;
  const completion = options.completionTokens ?? 5;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** A whole chat completion answering `text`. */
export function completionBody(text: string, options: CompletionOptions = {}): Record<string, unknown> {
  return {
    id: options.id ?? 'chatcmpl-1',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: options.model ?? 'gpt-test-1',
    choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: options.finishReason ?? 'stop' }],
    usage: usage(options),
  };
}

/** A reply with a whole chat completion and an `x-request-id` header. */
export function jsonCompletion(text: string, requestId = 'req_json', options: CompletionOptions = {}): Reply {
  return (res) => sendJson(res, 200, completionBody(text, options), { 'x-request-id': requestId });
}

/** Starts a streamed answer: status 200, the SSE content type and an `x-request-id` header. */
export function startSse(res: ServerResponse, requestId: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': requestId });
}

/** One chat completion chunk carrying `content` (or, with `finishReason`, the end of the choice). */
export function chunk(content: string | undefined, options: CompletionOptions & { finishReason?: string } = {}): Record<string, unknown> {
  const delta: Record<string, unknown> = content === undefined ? {} : { content };
  return {
    id: options.id ?? 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: options.model ?? 'gpt-test-1',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: options.finishReason ?? null }],
  };
}

/** Renders chunks as the API streams them: `data: <json>` per chunk. */
export function dataLines(chunks: readonly unknown[]): string {
  return chunks.map((item) => `data: ${JSON.stringify(item)}\n\n`).join('');
}

/**
 * The chunks of a streamed completion of `tokens`: a role chunk, one chunk per token, the finish chunk, then
 * (as with `stream_options.include_usage`) a usage chunk with no choices, then `[DONE]`.
 */
export function completionStream(tokens: readonly string[], options: CompletionOptions = {}): string {
  const first = chunk(undefined, options);
  (first.choices as { delta: Record<string, unknown> }[])[0]!.delta = { role: 'assistant', content: '' };
  const usageChunk = { ...chunk(undefined, options), choices: [], usage: usage(options) };
  return dataLines([first, ...tokens.map((token) => chunk(token, options)), chunk(undefined, { ...options, finishReason: options.finishReason ?? 'stop' }), usageChunk]) + 'data: [DONE]\n\n';
}

/** A reply streaming `tokens` as chat completion chunks. */
export function streamedCompletion(tokens: readonly string[], requestId = 'req_stream', options: CompletionOptions = {}): Reply {
  return async (res) => {
    startSse(res, requestId);
    await write(res, completionStream(tokens, options));
    res.end();
  };
}

/**
 * A streamed completion that sends its first chunks (`tokens`), waits for `release`, then does `then`:
 * for failures in the middle of a stream.
 */
export function heldCompletion(tokens: readonly string[], release: Promise<void>, then: (res: ServerResponse) => void | Promise<void>, requestId = 'req_held'): Reply {
  return async (res) => {
    startSse(res, requestId);
    await write(res, dataLines(tokens.map((token) => chunk(token))));
    await release;
    await then(res);
  };
}

interface ResponseOptions {
  id?: string;
  model?: string;
  inputTokens?: number;
  outputTokens?: number;
  status?: string;
}

/** A whole Responses API response answering `text`. */
export function responseBody(text: string, options: ResponseOptions = {}): Record<string, unknown> {
  const input = options.inputTokens ?? 8;
  const output = options.outputTokens ?? 4;
  return {
    id: options.id ?? 'resp_1',
    object: 'response',
    created_at: 1_700_000_000,
    model: options.model ?? 'gpt-test-1',
    status: options.status ?? 'completed',
    incomplete_details: null,
    error: null,
    output: [{ type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] }],
    usage: { input_tokens: input, output_tokens: output, total_tokens: input + output },
  };
}

/** A reply with a whole Responses API response. */
export function jsonResponse(text: string, requestId = 'req_resp', options: ResponseOptions = {}): Reply {
  return (res) => sendJson(res, 200, responseBody(text, options), { 'x-request-id': requestId });
}

/** Renders Responses API events as the API streams them: `event: <type>` then `data: <json>`. */
export function responseEvents(events: readonly { type: string; [field: string]: unknown }[]): string {
  return events.map((event, index) => `event: ${event.type}\ndata: ${JSON.stringify({ ...event, sequence_number: index })}\n\n`).join('');
}

/** A reply streaming `tokens` as Responses API events, from `response.created` to `response.completed`. */
export function streamedResponse(tokens: readonly string[], requestId = 'req_resp_stream', options: ResponseOptions = {}): Reply {
  return async (res) => {
    const final = responseBody(tokens.join(''), options);
    startSse(res, requestId);
    await write(
      res,
      responseEvents([
        { type: 'response.created', response: { ...final, status: 'in_progress', output: [], usage: null } },
        ...tokens.map((delta) => ({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta })),
        { type: 'response.completed', response: final },
      ]),
    );
    res.end();
  };
}
