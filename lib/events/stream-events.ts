import { ConfigError, describeValue } from '../errors';
import type { RunnableConfig } from '../runnables/config';
import { registerEventStreamFactory, type Runnable } from '../runnables/runnable';
import { BoundedChannel } from './channel';
import { EventStreamHandler } from './event-handler';
import { streamClosed, streamOpened } from './tap';
import type { StreamEvent, StreamEventsFilters } from './types';

/**
 * How many events wait for a slow consumer before the run itself waits: the bound of `streamEvents`'
 * buffer. A run producing faster than its consumer reads is paused at its next event, so memory stays
 * bounded whatever the consumer does.
 */
export const EVENT_BUFFER_SIZE = 64;

/** Options of `streamEvents`: a {@link RunnableConfig} plus LangChain's `version` and `encoding`. */
export interface StreamEventsOptions extends RunnableConfig {
  /** The schema version; only LangChain's `'v2'` is supported, and it must be given. */
  version: 'v2';
  /**
   * `'text/event-stream'` yields server-sent event frames as `Uint8Array` chunks (LangChain's wire format)
   * instead of event objects.
   * @default undefined (event objects)
   */
  encoding?: 'text/event-stream';
}

const FILTER_KEYS = ['includeNames', 'includeTypes', 'includeTags', 'excludeNames', 'excludeTypes', 'excludeTags'] as const;

/**
 * Streams the events of one run of `runnable` and of every run below it (see `Runnable.streamEvents`).
 *
 * @internal The public entry is the method on every runnable.
 */
export function streamEventsOf<TInput>(
  runnable: Runnable<TInput, unknown>,
  input: TInput,
  options: StreamEventsOptions,
  filters: StreamEventsFilters | undefined,
): AsyncIterableIterator<StreamEvent> | AsyncIterableIterator<Uint8Array> {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('options', options, `Expected the \`options\` of streamEvents() to be an object with \`version: 'v2'\`, got ${describeValue(options)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  const { version, encoding, ...config } = options;
  if (version !== 'v2') {
    throw new ConfigError('version', version, `Expected \`version\` of streamEvents() to be 'v2' (LangChain's v2 event schema), got ${describeValue(version)}.`);
  }
  if (encoding !== undefined && encoding !== 'text/event-stream') {
    throw new ConfigError('encoding', encoding, `Expected \`encoding\` of streamEvents() to be 'text/event-stream' or left out, got ${describeValue(encoding)}.`);
  }
  const checked = checkFilters(filters);
  const events = new EventStream(runnable, input, config, checked);
  return encoding === undefined ? events : encodeEventStream(events);
}

function checkFilters(filters: unknown): StreamEventsFilters {
  if (filters === undefined) return {};
  if (filters === null || typeof filters !== 'object' || Array.isArray(filters)) {
    throw new ConfigError('filters', filters, `Expected the \`filters\` of streamEvents() to be an object of name, type and tag lists, got ${describeValue(filters)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  for (const [key, value] of Object.entries(filters)) {
    if (!(FILTER_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`filters.${key}`, value, `Unknown streamEvents() filter \`${key}\`; expected one of ${FILTER_KEYS.join(', ')}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
    if (value !== undefined && !(Array.isArray(value) && value.every((item) => typeof item === 'string'))) {
      throw new ConfigError(`filters.${key}`, value, `Expected \`filters.${key}\` of streamEvents() to be an array of strings, got ${describeValue(value)}.`, {
        code: 'INVALID_ARGUMENT',
      });
    }
  }
  return filters;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/**
 * The events of one run tree. The run starts on the first `next()`, in a task of its own that drains the
 * root's stream while the events go through a bounded channel to the consumer. `return()` (a `break` in
 * `for await`) aborts the run tree, waits for it to end (every run still ends with one end or error event
 * for the other handlers) and leaves nothing behind.
 */
class EventStream<TInput> implements AsyncIterableIterator<StreamEvent> {
  private state: 'idle' | 'running' | 'done' = 'idle';
  private readonly channel = new BoundedChannel<StreamEvent>(EVENT_BUFFER_SIZE);
  private readonly handler: EventStreamHandler;
  private readonly controller = new AbortController();
  private drive: Promise<void> | undefined = undefined;
  private failure: { error: unknown } | undefined = undefined;
  private firstRunId: string | undefined = undefined;

  constructor(
    private readonly runnable: Runnable<TInput, unknown>,
    private readonly input: TInput,
    private readonly config: RunnableConfig,
    filters: StreamEventsFilters,
  ) {
    this.handler = new EventStreamHandler(this.channel, filters);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<StreamEvent, undefined>> {
    if (this.state !== 'running') {
      if (this.state === 'done') return Promise.resolve(DONE);
      this.start();
    }
    // An event already waiting costs one resolved promise, not an async function's extra turns.
    const event = this.channel.shift();
    if (event !== undefined) return Promise.resolve({ value: this.shape(event), done: false });
    if (this.channel.closed) return this.settle();
    return this.channel.wait().then(this.woken);
  }

  // Bound once: a consumer that waits for an event does not allocate a closure each time.
  private readonly woken = (event: StreamEvent | undefined): Promise<IteratorResult<StreamEvent, undefined>> | IteratorResult<StreamEvent, undefined> =>
    event === undefined ? this.settle() : { value: this.shape(event), done: false };

  /** The channel closes when the run is over: report how it ended. */
  private async settle(): Promise<IteratorResult<StreamEvent, undefined>> {
    await this.drive;
    this.finish();
    const failure = this.failure;
    if (failure !== undefined) throw failure.error;
    return DONE;
  }

  async return(): Promise<IteratorResult<StreamEvent, undefined>> {
    if (this.state === 'running') {
      // The consumer went away: stop the run tree and drop the events nobody will read.
      this.controller.abort();
      this.channel.close(true);
      await this.drive;
      this.finish();
    }
    this.state = 'done';
    return DONE;
  }

  async throw(error: unknown): Promise<IteratorResult<StreamEvent, undefined>> {
    await this.return();
    throw error;
  }

  private start(): void {
    this.state = 'running';
    streamOpened();
    let bound: Runnable<TInput, unknown>;
    try {
      bound = this.runnable.withConfig({ callbacks: [this.handler], signal: this.controller.signal });
    } catch (error) {
      this.failure = { error };
      this.channel.close();
      this.drive = Promise.resolve();
      return;
    }
    // The handler takes the first run that starts as the root. Passing a run id of our own would cost every
    // stream the config's full validation (a `runId` is checked as a UUID), for nothing.
    this.drive = this.consume(bound, this.config);
  }

  private async consume(bound: Runnable<TInput, unknown>, config: RunnableConfig): Promise<void> {
    try {
      const chunks = bound.stream(this.input, config);
      for await (const chunk of chunks) {
        void chunk;
        if (this.controller.signal.aborted) break;
      }
    } catch (error) {
      // An abort we caused (the consumer left) is no failure of the stream.
      if (!this.controller.signal.aborted) this.failure = { error };
    } finally {
      this.channel.close();
    }
  }

  private finish(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    streamClosed();
  }

  // LangChain's root quirks: the first event carries the input as given; the root's end event has no input.
  private shape(event: StreamEvent): StreamEvent {
    if (this.firstRunId === undefined) {
      this.firstRunId = event.run_id;
      (event.data as { input?: unknown }).input = this.input;
    } else if (event.run_id === this.firstRunId && event.event.endsWith('_end')) {
      const data = event.data as { input?: unknown };
      if (data.input) delete data.input;
    }
    return event;
  }
}

const FRAME_START = 'event: data\ndata: ';
const FRAME_END = '\n\n';

/** Errors have no enumerable fields: on the wire they become `{ name, message }`. */
function wireValue(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/**
 * An event as JSON. An event whose data reaches itself (a traced function's input that holds its run's
 * config, which reaches the event stream's buffer of events) is written with `"[Circular]"` where a value
 * would repeat one of its own ancestors, instead of failing the stream; only such an event pays for the check.
 */
function wireJson(value: unknown): string {
  try {
    return JSON.stringify(value, wireValue);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return JSON.stringify(value, acyclicWireValue());
  }
}

/** {@link wireValue}, and `"[Circular]"` for an object that is among the ancestors of where it appears. */
function acyclicWireValue(): (this: unknown, key: string, value: unknown) => unknown {
  const ancestors: unknown[] = [];
  return function replace(this: unknown, key: string, value: unknown): unknown {
    const wired = wireValue(key, value);
    if (typeof wired !== 'object' || wired === null) return wired;
    // `this` is the object holding `key`: every ancestor deeper than it has been left.
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
    if (ancestors.includes(wired)) return '[Circular]';
    ancestors.push(wired);
    return wired;
  };
}

/**
 * Server-sent event frames of events in LangChain's wire format: `event: data` / `data: <json>` frames, then
 * one `event: end` frame. Already-encoded chunks pass through. `return()` goes straight to the events (a
 * pending `next()` does not delay it), so a client that disconnects aborts the run at once.
 *
 * @internal
 */
export class EncodedEventStream implements AsyncIterableIterator<Uint8Array> {
  private readonly source: AsyncIterator<StreamEvent | Uint8Array>;
  private readonly encoder = new TextEncoder();
  private ended = false;

  constructor(events: AsyncIterable<StreamEvent | Uint8Array>) {
    this.source = events[Symbol.asyncIterator]();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (this.ended) return DONE;
    const step = await this.source.next();
    if (step.done === true) {
      this.ended = true;
      return { value: this.encoder.encode(END_FRAME), done: false };
    }
    const value = step.value;
    if (value instanceof Uint8Array) return { value, done: false };
    return { value: this.encoder.encode(FRAME_START + wireJson(value) + FRAME_END), done: false };
  }

  async return(): Promise<IteratorResult<Uint8Array, undefined>> {
    this.ended = true;
    await this.source.return?.();
    return DONE;
  }
}

const END_FRAME = 'event: end\n\n';

/** @internal The frame that `pipeEventStream` and `toEventStreamResponse` send when the run fails (a callscope addition). */
export function errorFrame(error: unknown): string {
  return `event: error\ndata: ${JSON.stringify(error, wireValue)}\n\n`;
}

/** @internal */
export function encodeEventStream(events: AsyncIterable<StreamEvent | Uint8Array>): EncodedEventStream {
  return new EncodedEventStream(events);
}

registerEventStreamFactory(streamEventsOf as never);
