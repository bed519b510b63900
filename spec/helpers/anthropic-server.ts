import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A request the server received, body parsed as JSON. */
export interface RecordedRequest {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/** How the server answers one request. */
export type Reply = (res: ServerResponse, request: RecordedRequest) => void | Promise<void>;

/** One server-sent event of the Messages API streaming protocol. */
export interface StreamEvent {
  readonly type: string;
  readonly [field: string]: unknown;
}

/**
 * A loopback HTTP server speaking enough of Anthropic's Messages API for ChatAnthropic's tests: each
 * request is answered by the next queued {@link Reply}. It listens on 127.0.0.1 on a free port; `stop()`
 * destroys every open connection and closes it.
 */
export class FakeAnthropicServer {
  readonly requests: RecordedRequest[] = [];
  private readonly replies: Reply[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private port = 0;

  constructor() {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** The base URL to give ChatAnthropic. */
  get baseURL(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Queues the answers to the next requests, in order. */
  reply(...replies: Reply[]): void {
    this.replies.push(...replies);
  }

  /** Replies still queued (an unused reply usually means a test made fewer requests than it meant to). */
  pending(): number {
    return this.replies.length;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve, reject) => this.server.close((error) => (error ? reject(error) : resolve())));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    req.setEncoding('utf8');
    for await (const chunk of req) raw += chunk as string;
    const request: RecordedRequest = { method: req.method, url: req.url, headers: req.headers, body: raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>) };
    this.requests.push(request);
    const reply = this.replies.shift();
    if (reply === undefined) {
      sendJson(res, 500, { type: 'error', error: { type: 'api_error', message: 'no reply queued in the test server' } }, { 'x-should-retry': 'false' });
      return;
    }
    await reply(res, request);
  }
}

/** Renders events as server-sent events, as the API sends them: `event: <type>` then `data: <json>`. */
export function sse(events: readonly StreamEvent[]): string {
  return events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('');
}

/** Starts a streamed answer: status 200, the SSE content type and a `request-id` header. */
export function startStream(res: ServerResponse, requestId: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': requestId });
}

/** Writes `text` and resolves once it has been handed to the socket. */
export function write(res: ServerResponse, text: string): Promise<void> {
  return new Promise((resolve, reject) => res.write(text, (error) => (error ? reject(error) : resolve())));
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** The events that open a message and its first text block. */
export function openingEvents(options: { id?: string; model?: string; inputTokens?: number } = {}): StreamEvent[] {
  return [
    {
      type: 'message_start',
      message: {
        id: options.id ?? 'msg_01',
        type: 'message',
        role: 'assistant',
        model: options.model ?? 'claude-test-1',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: options.inputTokens ?? 12, output_tokens: 1, cache_creation_input_tokens: null, cache_read_input_tokens: null },
      },
    },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '', citations: null } },
    { type: 'ping' },
  ];
}

/** One text delta of the first block. */
export function textDelta(text: string): StreamEvent {
  return { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } };
}

/** The events that close the text block and the message. */
export function closingEvents(options: { outputTokens?: number; stopReason?: string } = {}): StreamEvent[] {
  return [
    { type: 'content_block_stop', index: 0 },
    {
      type: 'message_delta',
      delta: { stop_reason: options.stopReason ?? 'end_turn', stop_sequence: null, container: null, stop_details: null },
      usage: { output_tokens: options.outputTokens ?? 7 },
    },
    { type: 'message_stop' },
  ];
}

/** A complete streamed answer made of `tokens`, one text delta each. */
export function streamedAnswer(
  tokens: readonly string[],
  options: { requestId?: string; inputTokens?: number; outputTokens?: number; stopReason?: string; model?: string } = {},
): Reply {
  return async (res) => {
    startStream(res, options.requestId ?? 'req_ok');
    await write(res, sse([...openingEvents(options), ...tokens.map(textDelta), ...closingEvents(options)]));
    res.end();
  };
}

/** A whole (non-streamed) Messages API answer, as `messages.create` without `stream` receives it. */
export function messageBody(text: string, options: { id?: string; model?: string; inputTokens?: number; outputTokens?: number; stopReason?: string } = {}): Record<string, unknown> {
  return {
    id: options.id ?? 'msg_01',
    type: 'message',
    role: 'assistant',
    model: options.model ?? 'claude-test-1',
    content: [{ type: 'text', text, citations: null }],
    stop_reason: options.stopReason ?? 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: options.inputTokens ?? 12, output_tokens: options.outputTokens ?? 7 },
  };
}

/** A reply answering `text` as one JSON message, with a `request-id` header. */
export function jsonAnswer(text: string, requestId = 'req_json', options: Parameters<typeof messageBody>[1] = {}): Reply {
  return (res) => sendJson(res, 200, messageBody(text, options), { 'request-id': requestId });
}

/**
 * A streamed answer that sends its opening events and `tokens`, waits for `release`, then does `then` (cut
 * the socket, send an error event, finish): for failures in the middle of a stream.
 */
export function heldStream(tokens: readonly string[], release: Promise<void>, then: (res: ServerResponse) => void | Promise<void>, requestId = 'req_held'): Reply {
  return async (res) => {
    startStream(res, requestId);
    await write(res, sse([...openingEvents(), ...tokens.map(textDelta)]));
    await release;
    await then(res);
  };
}

/** A promise with its resolve function, to let a test say when a server reply goes on. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}
