import type { ServerResponse } from 'node:http';
import { encodeEventStream, errorFrame } from './stream-events';
import type { StreamEvent } from './types';

/** What {@link toEventStreamResponse} and {@link pipeEventStream} take: events, or their encoded frames. */
export type EventStreamSource = AsyncIterable<StreamEvent> | AsyncIterable<Uint8Array>;

/** Options of {@link toEventStreamResponse}: a `ResponseInit` whose headers are added to the SSE ones. */
export type EventStreamResponseInit = ResponseInit;

/** What {@link pipeEventStream} writes to: a Node `ServerResponse` (or anything with its surface). */
export type EventStreamTarget = Pick<ServerResponse, 'writeHead' | 'write' | 'end' | 'on' | 'off' | 'once' | 'headersSent' | 'writableEnded' | 'destroyed'> & {
  flushHeaders?: () => void;
  /** Compression middleware adds `flush()`; it is called after every event. */
  flush?: () => void;
};

const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  // nginx and some proxies buffer responses unless told not to.
  'X-Accel-Buffering': 'no',
});

/**
 * A Web `Response` streaming `events` as server-sent events (LangChain's wire format), for Hono, Next.js
 * route handlers, Workers and `Bun.serve`. Cancelling the body (the client went away) stops the events and
 * so aborts their run. A run that fails ends the body with an `event: error` frame.
 *
 * @param events - `runnable.streamEvents(input, { version: 'v2' })`, with or without `encoding`.
 * @param init - status, headers (added to the SSE headers, yours winning) and status text.
 * @returns the response.
 * @example
 * ```ts
 * app.post('/chat', async (c) => toEventStreamResponse(chain.streamEvents(await c.req.json(), { version: 'v2' })));
 * ```
 */
export function toEventStreamResponse(events: EventStreamSource, init: EventStreamResponseInit = {}): Response {
  const frames = encodeEventStream(events as AsyncIterable<StreamEvent | Uint8Array>);
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const step = await frames.next();
          if (step.done === true) controller.close();
          else controller.enqueue(step.value);
        } catch (error) {
          controller.enqueue(encoder.encode(errorFrame(error)));
          controller.close();
        }
      },
      async cancel() {
        await frames.return();
      },
    },
    { highWaterMark: 0 },
  );
  const headers = new Headers(SSE_HEADERS);
  // `Connection` is a hop-by-hop header some runtimes refuse in a Response.
  headers.delete('Connection');
  new Headers(init.headers).forEach((value, key) => headers.set(key, value));
  return new Response(body, { ...init, headers });
}

/**
 * Writes `events` to a Node `ServerResponse` as server-sent events (LangChain's wire format): SSE headers,
 * one write per event, then `event: end` and the end of the response. Waits for `drain` when the socket is
 * full. When the client disconnects, the events are stopped, which aborts their run (no tokens spent for
 * nobody). A run that fails ends the response with an `event: error` frame instead of `event: end`.
 *
 * @param events - `runnable.streamEvents(input, { version: 'v2' })`, with or without `encoding`.
 * @param res - the response; its headers must not have been sent yet.
 * @returns a promise that resolves once the response has ended (never rejects: the error went to the client).
 * @example
 * ```ts
 * http.createServer((req, res) => void pipeEventStream(chain.streamEvents({ topic: 'cats' }, { version: 'v2' }), res));
 * ```
 */
export async function pipeEventStream(events: EventStreamSource, res: EventStreamTarget): Promise<void> {
  const frames = encodeEventStream(events as AsyncIterable<StreamEvent | Uint8Array>);
  let gone = false;
  let wakeDrain: (() => void) | undefined;
  const onClose = (): void => {
    if (res.writableEnded) return;
    gone = true;
    wakeDrain?.();
    void frames.return();
  };
  res.on('close', onClose);
  try {
    if (!res.headersSent) res.writeHead(200, SSE_HEADERS);
    res.flushHeaders?.();
    for (;;) {
      let step: IteratorResult<Uint8Array, undefined>;
      try {
        step = await frames.next();
      } catch (error) {
        if (!gone) res.write(errorFrame(error));
        break;
      }
      if (step.done === true || gone) break;
      const room = res.write(step.value);
      res.flush?.();
      if (!room && !gone) {
        await new Promise<void>((resolve) => {
          wakeDrain = resolve;
          res.once('drain', resolve);
        });
        res.off('drain', wakeDrain as () => void);
        wakeDrain = undefined;
      }
    }
  } finally {
    res.off('close', onClose);
    if (gone) await frames.return();
    else if (!res.writableEnded && !res.destroyed) res.end();
  }
}
