import { AbortError, ProviderError } from '../errors';
import type { AIMessageChunk } from '../models/base-chat-model';
import type { AIMessage, ChatMessage, ChatModelInput } from '../models/messages';
import { abortErrorFor } from '../runnables/cancellation';
import { normalizeConfig, type NormalizedConfig, type RunScope } from '../runnables/config';
import { inheritedScope } from '../runnables/run';
import { ReportingChatModel, reportedMessage } from './reporting-chat-model';
import { RunHandle } from './run-handle';

/**
 * Builds what wrapped SDK clients (`callscope/anthropic`, `callscope/openai`) share: a chat model run per
 * API call, fed by what the SDK returns without changing it. No SDK is imported here; each wrapper
 * describes its provider's events to this module.
 *
 * @internal
 */

/** What a wrapper says about one API call when it starts. */
export interface ModelCallStart {
  /** The run's name, such as `'ChatAnthropic'`. */
  readonly name: string;
  /** The messages sent, system prompt included, as callscope messages. */
  readonly messages: readonly ChatMessage[];
  /** The request's parameters (without the messages), reported as `invocation_params`. */
  readonly params: Record<string, unknown>;
  /** LangChain's `ls_*` metadata of the call. */
  readonly lsMetadata: Record<string, unknown>;
  /** The wrapper's own config (tags, metadata), validated once. */
  readonly bound: NormalizedConfig | undefined;
}

/** Reads a provider's streamed events into the message a run ends with. */
export interface StreamAccumulator<TEvent> {
  /** Takes one event; returns the text delta it carries, if any (reported as a token). */
  add(event: TEvent): string | undefined;
  /** The message so far. */
  message(requestId: string | undefined): AIMessageChunk;
  /** Whether the provider's closing event arrived (otherwise the answer is incomplete). */
  complete(): boolean;
  /** What the run fails with when the stream itself reported a failure (an error event the SDK lets through). */
  failure?(): Error | undefined;
}

const NO_OP = (): void => {};

/**
 * One API call's chat model run. Events are delivered in order even when an async start handler is still
 * running: the request is sent at once (no added latency), and tokens and the end wait for the start.
 */
export class ModelCall {
  /** The request id, once the response headers arrived. */
  requestId: string | undefined = undefined;
  private queue: Promise<void> | undefined;
  private abortListener: { signal: AbortSignal; listener: () => void } | undefined;

  private constructor(
    private readonly handle: RunHandle<ChatModelInput, AIMessage>,
    private readonly model: ReportingChatModel,
  ) {}

  /**
   * Opens and starts the run of one call, under the active run. `undefined` when the call is not to be
   * traced: the run's signal had already aborted (the SDK then fails the call itself).
   *
   * @throws {@link LostCallbacksError} in `'explicit'` mode with `onLostCallbacks: 'throw'`.
   */
  static open(start: ModelCallStart): ModelCall | undefined {
    const model = new ReportingChatModel(start.name, start.params);
    const ls = normalizeConfig({ metadata: start.lsMetadata }, 'model call');
    model.boundConfig = start.bound === undefined ? ls : { ...start.bound, metadata: { ...start.bound.metadata, ...start.lsMetadata } };
    const handle = RunHandle.open(model, undefined, inheritedScope(undefined));
    const call = new ModelCall(handle, model);
    let started: Promise<void> | undefined;
    try {
      started = handle.start(start.messages);
    } catch (error) {
      if (error instanceof AbortError) return undefined;
      throw error;
    }
    if (started !== undefined) call.queue = started.catch(NO_OP);
    return call;
  }

  /** The run's scope (its signal, its id as `callbacks.parentRunId`). */
  get scope(): RunScope {
    return this.handle.scope;
  }

  /** Whether anything listens to the run or can cancel it; otherwise the call needs no following. */
  get observed(): boolean {
    return this.handle.observed;
  }

  /** Whether the run has ended or failed. */
  get settled(): boolean {
    return this.handle.isSettled;
  }

  /** Calls `fn` in the run's context, so what it starts (the HTTP request) is inside the run. */
  run<TResult>(fn: () => TResult): TResult {
    return this.handle.run(fn);
  }

  /** Ends the run with an error as soon as `signal` aborts, whether or not anyone reads the answer. */
  failOnAbort(signal: AbortSignal | undefined): void {
    if (signal === undefined) return;
    const listener = (): void => {
      void this.fail(this.abortError(signal))?.catch(NO_OP);
    };
    signal.addEventListener('abort', listener, { once: true });
    this.abortListener = { signal, listener };
  }

  /** The error an aborted call is reported with: callscope's `AbortError`. */
  abortError(signal: AbortSignal): AbortError {
    return signal === this.handle.scope.signal ? abortErrorFor(this.handle.scope, signal) : new AbortError(this.model.name, signal.reason);
  }

  /** Reports a text delta; a promise when a handler is async. */
  token(text: string): Promise<void> | undefined {
    if (text === '' || this.handle.isSettled) return undefined;
    return this.deliver(() => (this.handle.isSettled ? undefined : this.model.reportToken(this.handle.scope, text)));
  }

  /** Ends the run with the answer. */
  end(message: AIMessageChunk): Promise<void> | undefined {
    if (this.handle.isSettled) return undefined;
    this.release();
    return this.deliver(() => this.handle.end(message));
  }

  /** Ends the run with an error event. */
  fail(error: unknown): Promise<void> | undefined {
    if (this.handle.isSettled) return undefined;
    this.release();
    return this.deliver(() => this.handle.fail(error));
  }

  /**
   * Ends the run of a stream that stopped: with an error when it was aborted or is incomplete, else with the
   * accumulated message.
   */
  endStream<TEvent>(accumulator: StreamAccumulator<TEvent>, signal: AbortSignal | undefined, provider: string): Promise<void> | undefined {
    if (signal?.aborted) return this.fail(this.abortError(signal));
    const failure = accumulator.failure?.();
    if (failure !== undefined) return this.fail(failure);
    if (!accumulator.complete()) {
      return this.fail(
        new ProviderError({
          provider,
          code: 'PROVIDER_CONNECTION_ERROR',
          message: `The ${provider} stream ended before its closing event, so the answer is incomplete${this.requestId === undefined ? '' : ` (request id ${this.requestId})`}.`,
          requestId: this.requestId,
        }),
      );
    }
    return this.end(accumulator.message(this.requestId));
  }

  private release(): void {
    if (this.abortListener === undefined) return;
    this.abortListener.signal.removeEventListener('abort', this.abortListener.listener);
    this.abortListener = undefined;
  }

  // In order after whatever is still being delivered (an async start handler).
  private deliver(emit: () => Promise<void> | undefined): Promise<void> | undefined {
    const before = this.queue;
    if (before === undefined) {
      const pending = emit();
      if (pending !== undefined) this.queue = pending.catch(NO_OP);
      return pending;
    }
    const pending = before.then(emit);
    this.queue = pending.catch(NO_OP);
    return pending;
  }
}

/** The parts of a Stainless SDK's `APIPromise` (both SDKs share the design) this module uses. */
export interface ApiPromiseLike<T> extends Promise<T> {
  readonly responsePromise: Promise<{ readonly response: { readonly headers: { get(name: string): string | null } } }>;
  parsedPromise?: Promise<T>;
  parse(): Promise<T>;
  asResponse(): Promise<unknown>;
  _thenUnwrap<U>(transform: (data: T, props: unknown) => U): ApiPromiseLike<U>;
}

/** The parts of a Stainless SDK's `Stream` this module uses. */
export interface SdkStreamLike<TEvent> {
  iterator: () => AsyncIterator<TEvent>;
  readonly controller: AbortController;
}

/** True for a Stainless SDK `Stream` (what a `stream: true` request resolves to). */
export function isSdkStream(value: unknown): value is SdkStreamLike<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as SdkStreamLike<unknown>).iterator === 'function' &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

/** True for a Stainless SDK `APIPromise`. */
export function isApiPromise(value: unknown): value is ApiPromiseLike<unknown> {
  return (
    value instanceof Promise &&
    typeof (value as Partial<ApiPromiseLike<unknown>>)._thenUnwrap === 'function' &&
    (value as Partial<ApiPromiseLike<unknown>>).responsePromise instanceof Promise
  );
}

/**
 * Follows an `APIPromise` to the run's end and returns an `APIPromise` of the very same data (same
 * message, same `Stream` object), with `withResponse()` and `asResponse()` working as before. The body is
 * parsed once the response arrives even if the caller never awaits it, so every call's run ends; a caller
 * who asks for the raw response with `asResponse()` right away gets its body untouched, and the run then
 * ends without an answer.
 *
 * @param onData - turns the parsed data into the run's end (a message) or follows it (a stream); returns it.
 */
export function followApiPromise<T>(
  call: ModelCall,
  promise: ApiPromiseLike<T>,
  requestIdHeader: string,
  onData: (data: T) => void,
): ApiPromiseLike<T> {
  const followed = promise._thenUnwrap((data) => {
    try {
      onData(data);
    } catch (error) {
      // A fault here must never change what the caller gets.
      void call.fail(error)?.catch(NO_OP);
    }
    return data;
  });
  let raw = false;
  const asResponse: (this: ApiPromiseLike<T>) => Promise<unknown> = Reflect.get(followed, 'asResponse');
  // (defineProperty returns the promise it was given; nothing to await.)
  void Object.defineProperty(followed, 'asResponse', {
    configurable: true,
    writable: true,
    value(this: ApiPromiseLike<T>) {
      // withResponse() parses first, then asks for the response: only a bare asResponse() reads the raw body.
      if (this.parsedPromise === undefined) raw = true;
      return asResponse.call(this);
    },
  });
  promise.responsePromise.then(
    (props) => {
      call.requestId = props.response.headers.get(requestIdHeader) ?? undefined;
      if (raw) {
        void call.end(reportedMessage('', { request_id: call.requestId }))?.catch(NO_OP);
        return;
      }
      followed.parse().then(NO_OP, (error: unknown) => void call.fail(error)?.catch(NO_OP));
    },
    (error: unknown) => void call.fail(error)?.catch(NO_OP),
  );
  return followed;
}

/**
 * Makes the iteration of an SDK `Stream` report to the call's run, in place: the caller keeps the same
 * object (`controller`, `tee()`, `toReadableStream()` included). One token per text delta; the run ends
 * when the stream ends, with an error if it fails, is aborted or stops before its closing event; a
 * consumer that stops early ends it normally with what it got.
 */
export function followSdkStream<TEvent>(call: ModelCall, stream: SdkStreamLike<TEvent>, accumulator: StreamAccumulator<TEvent>, provider: string): void {
  const iterate = stream.iterator;
  stream.iterator = function (this: SdkStreamLike<TEvent>): AsyncIterator<TEvent> {
    return observe(call, iterate.call(this), accumulator, stream.controller.signal, provider);
  };
}

async function* observe<TEvent>(
  call: ModelCall,
  events: AsyncIterator<TEvent>,
  accumulator: StreamAccumulator<TEvent>,
  signal: AbortSignal,
  provider: string,
): AsyncGenerator<TEvent, void, undefined> {
  let state: 'reading' | 'ended' | 'failed' = 'reading';
  try {
    for (;;) {
      let step: IteratorResult<TEvent>;
      try {
        step = await events.next();
      } catch (error) {
        state = 'failed';
        const failed = call.fail(error);
        if (failed !== undefined) await failed.catch(NO_OP);
        throw error;
      }
      if (step.done === true) break;
      const text = accumulator.add(step.value);
      if (text !== undefined) {
        const reported = call.token(text);
        if (reported !== undefined) await reported;
      }
      yield step.value;
    }
    state = 'ended';
    const ended = call.endStream(accumulator, signal, provider);
    if (ended !== undefined) await ended.catch(NO_OP);
  } finally {
    if (state === 'reading') {
      // The consumer stopped early: let the SDK close the request, then end the run with what was read.
      await events.return?.();
      const ended = call.end(accumulator.message(call.requestId));
      if (ended !== undefined) await ended.catch(NO_OP);
    }
  }
}

/**
 * Follows an SDK helper stream (Anthropic's `MessageStream`, OpenAI's `ChatCompletionStream`) through its
 * own event method, in place: the caller keeps the same object and its listeners, promises and error
 * behaviour are unchanged (no listener is added, which would swallow its unhandled errors).
 *
 * @param eventName - the event that carries each raw stream event (`'streamEvent'`, `'chunk'`).
 */
export function followHelperStream<TEvent>(
  call: ModelCall,
  stream: { _emit: (event: string, ...args: unknown[]) => unknown; readonly controller: AbortController },
  eventName: string,
  accumulator: StreamAccumulator<TEvent>,
  provider: string,
  requestIdOf: () => string | undefined,
): void {
  const emitEvent = stream._emit;
  stream._emit = function (this: unknown, event: string, ...args: unknown[]): unknown {
    try {
      if (event === eventName) {
        call.requestId ??= requestIdOf();
        const text = accumulator.add(args[0] as TEvent);
        if (text !== undefined) void call.token(text)?.catch(NO_OP);
      } else if (event === 'error' || event === 'abort') {
        const error = args[0];
        const aborted = stream.controller.signal.aborted;
        void call.fail(aborted && event === 'abort' ? call.abortError(stream.controller.signal) : error)?.catch(NO_OP);
      } else if (event === 'end') {
        call.requestId ??= requestIdOf();
        void call.endStream(accumulator, undefined, provider)?.catch(NO_OP);
      }
    } catch {
      // Reporting must never break the SDK's own event flow.
    }
    return emitEvent.call(this, event, ...args);
  };
}

/**
 * A view of an SDK resource (`client.messages`, `client.chat`) whose listed members are replaced: each
 * entry of `replace` gets the resource's own member and returns what to expose instead. Everything else
 * passes through untouched (methods bound to the resource, so its internals keep working). Replacements are
 * made once per resource and key.
 */
export function proxyResource<T extends object>(resource: T, replace: Readonly<Record<string, (original: unknown, resource: T) => unknown>>): T {
  const made = new Map<PropertyKey, { original: unknown; value: unknown }>();
  return new Proxy(resource, {
    get(target, key) {
      const original: unknown = Reflect.get(target, key, target);
      const cached = made.get(key);
      if (cached !== undefined && cached.original === original) return cached.value;
      const replacer = typeof key === 'string' && Object.prototype.hasOwnProperty.call(replace, key) ? replace[key] : undefined;
      let value: unknown;
      if (replacer !== undefined && original !== undefined && original !== null) value = replacer(original, target);
      else if (typeof original === 'function') value = (original as (...args: unknown[]) => unknown).bind(target);
      else return original;
      made.set(key, { original, value });
      return value;
    },
  });
}

/** Renders a content block list as text: text blocks as their text, others as `[type]`. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return content === undefined || content === null ? '' : JSON.stringify(content);
  return content
    .map((block: unknown) => {
      if (typeof block === 'string') return block;
      if (block === null || typeof block !== 'object') return String(block);
      const { type, text } = block as { type?: unknown; text?: unknown };
      if (typeof text === 'string') return text;
      return `[${typeof type === 'string' ? type : 'block'}]`;
    })
    .join('\n');
}

/** An SDK method taking a request body and request options. */
export type SdkMethod = (this: unknown, body: unknown, options?: RequestOptionsLike) => unknown;

/** The part of an SDK's request options callscope reads and sets. */
export interface RequestOptionsLike {
  signal?: AbortSignal | null;
  [key: string]: unknown;
}

/** How one provider's API method is traced. */
export interface MethodTracing<TEvent> {
  /** The provider, for error messages. */
  readonly provider: string;
  /** Opens the call's run from the request body; `undefined` when it is not traced. */
  open(body: unknown): ModelCall | undefined;
  /** The response header holding the request id. */
  readonly requestIdHeader: string;
  /** A fresh reader of the streamed events. */
  accumulator(): StreamAccumulator<TEvent>;
  /** The message a whole (non-streamed) answer ends the run with. */
  messageOf(data: unknown, requestId: string | undefined): AIMessageChunk;
}

/**
 * A traced version of an SDK method returning an `APIPromise` (`messages.create`,
 * `chat.completions.create`, `responses.create`): one run per call, the request sent at once with the run's
 * signal when the caller gave none, and the SDK's own `APIPromise` of the same data returned.
 */
export function traceCreate<TEvent>(tracing: MethodTracing<TEvent>, create: SdkMethod, resource: object): SdkMethod {
  return function traced(this: unknown, body: unknown, options?: RequestOptionsLike): unknown {
    const call = tracing.open(body);
    if (call === undefined) return create.call(resource, body, options);
    if (!call.observed) {
      // No handler, no signal: nothing to report or cancel, so the SDK's result is not followed at all.
      void call.end(reportedMessage(''));
      return create.call(resource, body, options);
    }
    const requestOptions = withRunSignal(options, call);
    call.failOnAbort(requestOptions?.signal ?? undefined);
    let result: unknown;
    try {
      result = call.run(() => create.call(resource, body, requestOptions));
    } catch (error) {
      void call.fail(error)?.catch(NO_OP);
      throw error;
    }
    if (!isApiPromise(result)) {
      // Not what the SDK versions callscope knows return: hand it back unchanged, the run ended at once.
      void call.end(reportedMessage(''))?.catch(NO_OP);
      return result;
    }
    return followApiPromise(call, result, tracing.requestIdHeader, (data) => {
      if (isSdkStream(data)) followSdkStream(call, data as SdkStreamLike<TEvent>, tracing.accumulator(), tracing.provider);
      else void call.end(tracing.messageOf(data, call.requestId ?? requestIdOf(data)))?.catch(NO_OP);
    });
  };
}

/**
 * A traced version of an SDK helper that returns an event stream object (`messages.stream`,
 * `chat.completions.stream`), followed through its `_emit` (see {@link followHelperStream}).
 *
 * @param eventName - the helper's event carrying each raw stream event.
 */
export function traceHelperStream<TEvent>(tracing: MethodTracing<TEvent>, stream: SdkMethod, resource: object, eventName: string): SdkMethod {
  return function traced(this: unknown, body: unknown, options?: RequestOptionsLike): unknown {
    const call = tracing.open(body);
    if (call === undefined) return stream.call(resource, body, options);
    if (!call.observed) {
      void call.end(reportedMessage(''));
      return stream.call(resource, body, options);
    }
    let result: unknown;
    try {
      result = call.run(() => stream.call(resource, body, withRunSignal(options, call)));
    } catch (error) {
      void call.fail(error)?.catch(NO_OP);
      throw error;
    }
    const helper = result as { _emit?: unknown; controller?: unknown; request_id?: unknown };
    if (typeof helper._emit !== 'function' || !(helper.controller instanceof AbortController)) {
      void call.end(reportedMessage(''))?.catch(NO_OP);
      return result;
    }
    followHelperStream(call, helper as Parameters<typeof followHelperStream>[1], eventName, tracing.accumulator(), tracing.provider, () =>
      typeof helper.request_id === 'string' ? helper.request_id : undefined,
    );
    return result;
  };
}

// The run's signal aborts the request when the caller gave none.
function withRunSignal(options: RequestOptionsLike | undefined, call: ModelCall): RequestOptionsLike | undefined {
  const signal = call.scope.signal;
  if (signal === undefined || (options?.signal !== undefined && options.signal !== null)) return options;
  return { ...options, signal };
}

// The SDKs put the request id on parsed objects as `_request_id`.
function requestIdOf(data: unknown): string | undefined {
  const id = data !== null && typeof data === 'object' ? (data as { _request_id?: unknown })._request_id : undefined;
  return typeof id === 'string' ? id : undefined;
}
