import type { CallbackHandler } from '../callbacks/handler';
import type { HandlerSet } from '../callbacks/handler-set';
import type { AIChatMessageChunk } from '../models/messages';

/**
 * What the run machinery asks of an event stream listening to a run: the stream events of runs executed
 * in streaming mode, and whether chat models should stream their tokens even when invoked. Kept apart
 * from the handler so that the runnables import nothing of `lib/events` but this small module.
 *
 * @internal
 */
export interface StreamTap {
  /** Whether `runId`'s chunks become `on_<type>_stream` events (LangChain taps the root and transform runs). */
  tapsRun(runId: string): boolean;
  /** Emits the stream event of one chunk of `runId`; a promise when the buffer is full. */
  chunk(runId: string, chunk: unknown): Promise<void> | undefined;
  /**
   * Emits the stream event of one token of the chat model run `runId`: what `handleLLMNewToken` does, for a
   * model whose only listener is the stream (see {@link soleTap}). A promise when the buffer is full.
   */
  token(runId: string | undefined, token: string, message: AIChatMessageChunk): Promise<void> | undefined;
}

const TAP = Symbol.for('callscope.streamTap');

let openStreams = 0;

/** @internal Counts an event stream in while it runs, so runs without one pay a single comparison. */
export function streamOpened(): void {
  openStreams++;
}

/** @internal */
export function streamClosed(): void {
  openStreams--;
}

/** @internal Marks a handler as the stream tap it is. */
export function markTap(handler: StreamTap): void {
  (handler as unknown as Record<symbol, boolean>)[TAP] = true;
}

/**
 * The event stream listening among `handlers`, when any: cheap (one comparison) while no `streamEvents`
 * is running anywhere.
 *
 * @internal
 */
export function findTap(handlers: HandlerSet): StreamTap | undefined {
  if (openStreams === 0) return undefined;
  for (const handler of handlers.handlers) {
    if ((handler as unknown as Record<symbol, unknown>)[TAP] === true) return handler as unknown as StreamTap;
  }
  return undefined;
}

/**
 * The event stream when it is the only listener of an event (`listeners` of one event of a run), so that a
 * model can hand it each token directly instead of building a generation chunk and dispatching a handler
 * call per token. Cheap (one comparison) while no `streamEvents` is running anywhere.
 *
 * @internal
 */
export function soleTap(listeners: readonly CallbackHandler[]): StreamTap | undefined {
  if (openStreams === 0 || listeners.length !== 1) return undefined;
  const handler = listeners[0] as unknown as Record<symbol, unknown>;
  return handler[TAP] === true ? (handler as unknown as StreamTap) : undefined;
}
