import { z } from 'zod';
import {
  AbortError,
  AsyncCallbackHandler,
  awaitAllCallbacks,
  configure,
  FakeChatModel,
  getCurrentConfig,
  RunCollector,
  RunnableLambda,
  tool,
  type CallbackHandlerLike,
  type ChainValues,
  type CollectedRun,
} from '../../lib';
import type { FlushMode } from '../../lib/http';
import { injectRunContext, OpenTelemetryTracer } from '../../lib/opentelemetry';
import { parentSpanId, type OpenTelemetryHarness } from './opentelemetry';
import { InvariantChecker } from './invariant';
import { shapeOf } from './trees';

/** The header that names a test request; every adapter's `handlers(request)` reads it. */
export const ID_HEADER = 'x-test-id';
/** With `1`, the route's token writer waits, after the first token, until the request's signal aborts. */
export const HOLD_HEADER = 'x-hold';

/** The model's answer for request `id`: different for every request. */
export function answerFor(id: string): string {
  return `Answer for ${id} is ready`;
}

/** The tokens request `id` must see. */
export function tokensFor(id: string): string[] {
  return FakeChatModel.tokenize(answerFor(id));
}

const summarize = RunnableLambda.from(
  async (id: string) => {
    // A model per call, so that concurrent requests each get their own answer.
    const model = new FakeChatModel({ responses: [answerFor(id)], streaming: true });
    return (await model.invoke(`Question ${id}`)).content;
  },
  { name: 'summarize' },
);

/** The pipeline every route runs: tool `lookup` → lambda `summarize` → streaming `FakeChatModel`. */
export const lookup = tool(async ({ id }) => summarize.invoke(id), {
  name: 'lookup',
  description: 'Looks up the answer for a request',
  schema: z.object({ id: z.string() }),
});

/** The shape of one request's run tree, its root named `name`. */
export function requestTreeShape(name: string): unknown {
  return {
    type: 'chain',
    name,
    children: [{ type: 'tool', name: 'lookup', children: [{ type: 'chain', name: 'summarize', children: [{ type: 'llm', name: 'FakeChatModel', children: [] }] }] }],
  };
}

/** What one request's handlers saw: its run trees, the run invariant, and when its root run ended. */
export class RequestRecord {
  readonly collector = new RunCollector();
  readonly invariant = new InvariantChecker();
  readonly ended: Promise<CollectedRun>;
  private resolveEnded: (run: CollectedRun) => void = () => undefined;

  constructor() {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    const watcher = {
      handleChainEnd: (_outputs: ChainValues, runId: string): void => this.rootEnded(runId),
      handleChainError: (_error: unknown, runId: string): void => this.rootEnded(runId),
    };
    this.handlers = [this.collector, this.invariant, watcher];
  }

  /** The handlers to give the request: a collector, an invariant checker and the root watcher. */
  readonly handlers: CallbackHandlerLike[];

  private rootEnded(runId: string): void {
    const root = this.collector.runs.find((run) => run.id === runId);
    if (root !== undefined) this.resolveEnded(root);
  }

  /** The single root run this request produced. */
  root(): CollectedRun {
    expect(this.collector.runs).toHaveLength(1);
    return this.collector.runs[0] as CollectedRun;
  }
}

/** Everything a test server shares with its spec. */
export class ServerState {
  /** What each request's handlers saw, by test id. */
  readonly requests = new Map<string, RequestRecord>();
  /** The errors the framework's error handling received, by test id. */
  readonly frameworkErrors = new Map<string, unknown>();
  /** The errors the failing route threw, by test id. */
  readonly thrown = new Map<string, Error>();
  /** Extra handlers for every request (an OpenTelemetryTracer, a slow recorder). */
  extraHandlers: CallbackHandlerLike[] = [];
  /** Pending work handed to `waitUntil`, in call order. */
  readonly waited: Promise<void>[] = [];

  /** The record of request `id`, created on first use. */
  record(id: string): RequestRecord {
    let record = this.requests.get(id);
    if (record === undefined) this.requests.set(id, (record = new RequestRecord()));
    return record;
  }

  /** The `handlers` option of every adapter, given the request's test id. */
  handlersFor(id: string | undefined): CallbackHandlerLike[] {
    return id === undefined ? [...this.extraHandlers] : [...this.record(id).handlers, ...this.extraHandlers];
  }

  /** The `waitUntil` option. */
  readonly waitUntil = (pending: Promise<void>): void => {
    this.waited.push(pending);
  };
}

/** Scope options the spec asks the adapter for; the adapter adds `handlers` (from the test id) itself. */
export interface ScopeRequest {
  flush?: FlushMode;
  propagate?: boolean;
  waitUntil?: boolean;
}

/**
 * A running test server of one adapter with two routes: `GET /chat` streams the pipeline's tokens as
 * server-sent events (through {@link streamChat}), `GET /fail` runs the pipeline then throws the error
 * {@link failRoute} returns; the framework's error handling records what it receives in
 * `state.frameworkErrors` and answers 500.
 */
export interface TestServer {
  readonly origin: string;
  close(): Promise<void>;
}

/** Starts a test server of one adapter on 127.0.0.1, port 0. */
export type StartServer = (state: ServerState, scope: ScopeRequest) => Promise<TestServer>;

function abortedSignal(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * The body of `GET /chat`: runs the pipeline for request `id`, writing each token as an SSE `data:` event,
 * then `event: done`. With `hold`, the writer waits after the first token until the request's signal aborts
 * (the client went away), so the model is mid-stream when it does. A run aborted that way ends the route
 * quietly: there is nobody left to answer.
 */
export async function streamChat(id: string, hold: boolean, write: (event: string) => unknown): Promise<void> {
  // The route sees the request's run as active: its signal is the one a disconnect aborts.
  const signal = getCurrentConfig()?.signal;
  if (signal === undefined) throw new Error('streamChat: no request run is active in the route');
  let first = true;
  const writer = {
    // The response is made of these tokens: always delivered before the model goes on, whatever `configure` says.
    awaitHandlers: true,
    handleLLMNewToken: async (token: string): Promise<void> => {
      await write(`data: ${JSON.stringify(token)}\n\n`);
      if (hold && first) {
        first = false;
        await abortedSignal(signal);
      }
    },
  };
  try {
    await lookup.invoke({ id }, { callbacks: [writer] });
  } catch (error) {
    if (error instanceof AbortError && signal.aborted) return;
    throw error;
  }
  await write('event: done\ndata: {}\n\n');
}

/** The body of `GET /fail`: runs the pipeline, then throws an error kept in `state.thrown`. */
export async function failRoute(state: ServerState, id: string): Promise<never> {
  await lookup.invoke({ id });
  const error = new Error(`route failed for ${id}`);
  state.thrown.set(id, error);
  throw error;
}

/** The tokens of an SSE body. */
export function sseTokens(body: string): string[] {
  return body
    .split('\n\n')
    .filter((event) => event.startsWith('data: "'))
    .map((event) => JSON.parse(event.slice('data: '.length)) as string);
}

/** GET /chat for request `id`, read to the end. */
export async function getChat(origin: string, id: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const response = await fetch(`${origin}/chat`, { headers: { [ID_HEADER]: id, ...headers } });
  return { status: response.status, body: await response.text() };
}

/** Which order things happened in, across the client and the handlers. */
class SlowRecorder extends AsyncCallbackHandler {
  constructor(
    private readonly log: string[],
    private readonly gate: () => Promise<void>,
  ) {
    super();
  }

  override async handleChainEnd(outputs: ChainValues): Promise<void> {
    await this.gate();
    // A few turns of the event loop: without a flush, the response would overtake this delivery.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    if ('status' in outputs) this.log.push('request run end delivered');
  }

  override async handleLLMEnd(): Promise<void> {
    await this.gate();
    this.log.push('model end delivered');
  }
}

/** A gate that handlers wait on until the test opens it. */
function gate(): { wait: () => Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { wait: () => opened, open };
}

/**
 * The request-scope suite every adapter passes: concurrency and isolation, disconnects, route errors,
 * trace continuation and flush modes, all observed from a real client over loopback HTTP.
 */
export function describeRequestScope(start: StartServer, otel: OpenTelemetryHarness): void {
  async function withServer<T>(scope: ScopeRequest, state: ServerState, body: (server: TestServer) => Promise<T>): Promise<T> {
    const server = await start(state, scope);
    try {
      return await body(server);
    } finally {
      await server.close();
    }
  }

  describe('one root run per request', () => {
    it('gives 200 concurrent requests each exactly its own run tree and tokens', async () => {
      const state = new ServerState();
      await withServer({}, state, async (server) => {
        const ids = Array.from({ length: 200 }, (_, i) => `req-${i}`);
        const replies = await Promise.all(ids.map((id) => getChat(server.origin, id)));
        replies.forEach((reply, i) => {
          const id = ids[i] as string;
          expect(reply.status).toBe(200);
          expect(sseTokens(reply.body)).toEqual(tokensFor(id));
          expect(reply.body).toContain('event: done');
        });
        for (const id of ids) {
          const record = state.record(id);
          const root = record.root();
          expect(shapeOf(root)).toEqual(requestTreeShape('GET /chat'));
          expect(root.inputs).toEqual({ method: 'GET', url: '/chat' });
          expect(root.outputs).toEqual({ status: 200 });
          expect(root.parentRunId).toBeUndefined();
          const model = record.collector.allRuns().find((run) => run.type === 'llm') as CollectedRun;
          expect(model.tokens).toEqual(tokensFor(id));
          expect(record.invariant.violations()).toEqual([]);
          expect(record.invariant.open()).toEqual([]);
        }
        expect(state.requests.size).toBe(200);
      });
    });
  });

  describe('client disconnect', () => {
    it('aborts the request run tree: the model emits no further token and the run ends with one AbortError', async () => {
      const state = new ServerState();
      await withServer({}, state, async (server) => {
        const id = 'gone';
        const controller = new AbortController();
        const response = await fetch(`${server.origin}/chat`, { headers: { [ID_HEADER]: id, [HOLD_HEADER]: '1' }, signal: controller.signal });
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        let received = '';
        while (!received.includes('\n\n')) {
          const { value, done } = await reader.read();
          if (done) throw new Error('the stream ended before the first token');
          received += new TextDecoder().decode(value);
        }
        expect(sseTokens(received)).toEqual([tokensFor(id)[0]]);
        controller.abort();
        await reader.cancel().catch(() => undefined);

        const record = state.record(id);
        const root = await record.ended;
        expect(root.error).toBeInstanceOf(AbortError);
        const runs = record.collector.allRuns();
        expect(runs.map((run) => [run.type, run.name, (run.error as Error | undefined)?.name])).toEqual([
          ['chain', 'GET /chat', 'AbortError'],
          ['tool', 'lookup', 'AbortError'],
          ['chain', 'summarize', 'AbortError'],
          ['llm', 'FakeChatModel', 'AbortError'],
        ]);
        const model = runs[3] as CollectedRun;
        expect(model.tokens).toEqual([tokensFor(id)[0]]);
        // Exactly one end or error event per run, nothing after it.
        expect(record.invariant.violations()).toEqual([]);
        expect(record.invariant.open()).toEqual([]);
        expect(record.invariant.ended()).toBe(4);
      });
    });
  });

  describe('a route that throws', () => {
    it("passes the error unchanged to the framework's error handling and ends the run with an error event", async () => {
      const state = new ServerState();
      await withServer({}, state, async (server) => {
        const response = await fetch(`${server.origin}/fail`, { headers: { [ID_HEADER]: 'fails' } });
        expect(response.status).toBe(500);
        await response.text();
        const record = state.record('fails');
        const root = await record.ended;
        const thrown = state.thrown.get('fails');
        expect(thrown).toBeInstanceOf(Error);
        expect(state.frameworkErrors.get('fails')).toBe(thrown);
        expect(root.name).toBe('GET /fail');
        expect(root.error).toBe(thrown);
        expect(shapeOf(root).children.map((child) => child.name)).toEqual(['lookup']);
        expect(record.invariant.violations()).toEqual([]);
      });
    });
  });

  describe('propagate: true', () => {
    it("continues a callscope caller's run tree and trace from traceparent and baggage", async () => {
      const state = new ServerState();
      state.extraHandlers = [new OpenTelemetryTracer({ tracer: otel.tracer })];
      await withServer({ propagate: true }, state, async (server) => {
        const caller = RunnableLambda.from(
          async () => {
            const response = await fetch(`${server.origin}/chat`, { headers: injectRunContext({ [ID_HEADER]: 'traced' }) });
            return response.text();
          },
          { name: 'caller' },
        );
        const callerRuns = new RunCollector();
        const body = await caller.invoke(undefined, { callbacks: [new OpenTelemetryTracer({ tracer: otel.tracer }), callerRuns] });
        expect(sseTokens(body)).toEqual(tokensFor('traced'));

        const root = state.record('traced').root();
        const callerRun = callerRuns.runs[0] as CollectedRun;
        expect(root.parentRunId).toBe(callerRun.id);
        expect(shapeOf(root)).toEqual(requestTreeShape('GET /chat'));

        const callerSpan = otel.span('caller');
        const requestSpan = otel.span('GET /chat');
        expect(requestSpan.spanContext().traceId).toBe(callerSpan.spanContext().traceId);
        expect(parentSpanId(requestSpan)).toBe(callerSpan.spanContext().spanId);
        expect(parentSpanId(otel.span('lookup'))).toBe(requestSpan.spanContext().spanId);
        expect(otel.span('FakeChatModel').spanContext().traceId).toBe(callerSpan.spanContext().traceId);
      });
    });

    it('continues the trace of a caller that sends only traceparent', async () => {
      const state = new ServerState();
      state.extraHandlers = [new OpenTelemetryTracer({ tracer: otel.tracer })];
      await withServer({ propagate: true }, state, async (server) => {
        const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
        const spanId = '00f067aa0ba902b7';
        await getChat(server.origin, 'plain-otel', { traceparent: `00-${traceId}-${spanId}-01` });
        const requestSpan = otel.span('GET /chat');
        expect(requestSpan.spanContext().traceId).toBe(traceId);
        expect(parentSpanId(requestSpan)).toBe(spanId);
        expect(state.record('plain-otel').root().parentRunId).toBeUndefined();
      });
    });

    it('ignores the headers without propagate', async () => {
      const state = new ServerState();
      state.extraHandlers = [new OpenTelemetryTracer({ tracer: otel.tracer })];
      await withServer({}, state, async (server) => {
        await getChat(server.origin, 'unlinked', { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
        expect(otel.span('GET /chat').spanContext().traceId).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
        expect(parentSpanId(otel.span('GET /chat'))).toBeUndefined();
      });
    });
  });

  describe('flush modes, with background delivery', () => {
    beforeEach(() => {
      configure({ callbacks: 'background' });
    });
    afterEach(async () => {
      await awaitAllCallbacks();
      configure({ callbacks: 'blocking' });
    });

    it("'before-response' delivers the request's events before the response completes", async () => {
      const state = new ServerState();
      const log: string[] = [];
      state.extraHandlers = [new SlowRecorder(log, () => Promise.resolve())];
      await withServer({ flush: 'before-response' }, state, async (server) => {
        const reply = await getChat(server.origin, 'flushed');
        log.push('client read the whole response');
        expect(sseTokens(reply.body)).toEqual(tokensFor('flushed'));
        expect(log).toEqual(['model end delivered', 'request run end delivered', 'client read the whole response']);
      });
    });

    it("'before-response' also holds the response for a request that continues a caller's run (propagate: true)", async () => {
      const state = new ServerState();
      const log: string[] = [];
      state.extraHandlers = [new SlowRecorder(log, () => Promise.resolve())];
      await withServer({ flush: 'before-response', propagate: true }, state, async (server) => {
        // A caller's run id in baggage makes the request run a child of a run in another process.
        const baggage = 'callscope.run_id=01a20c52-477b-708f-923a-cd495cc84423';
        const reply = await getChat(server.origin, 'flushed-remote', { baggage });
        log.push('client read the whole response');
        expect(sseTokens(reply.body)).toEqual(tokensFor('flushed-remote'));
        expect(log).toEqual(['model end delivered', 'request run end delivered', 'client read the whole response']);
      });
    });

    it("'none' lets the response complete while a handler still holds the request's events", async () => {
      const state = new ServerState();
      const log: string[] = [];
      const held = gate();
      state.extraHandlers = [new SlowRecorder(log, held.wait)];
      await withServer({ flush: 'none' }, state, async (server) => {
        const reply = await getChat(server.origin, 'unflushed');
        expect(sseTokens(reply.body)).toEqual(tokensFor('unflushed'));
        expect(log).toEqual([]);
        held.open();
        await awaitAllCallbacks();
        expect(log).toEqual(['model end delivered', 'request run end delivered']);
      });
    });

    it("'after-response' hands waitUntil a promise that resolves once the events are delivered", async () => {
      const state = new ServerState();
      const log: string[] = [];
      const held = gate();
      state.extraHandlers = [new SlowRecorder(log, held.wait)];
      await withServer({ flush: 'after-response', waitUntil: true }, state, async (server) => {
        const reply = await getChat(server.origin, 'later');
        expect(sseTokens(reply.body)).toEqual(tokensFor('later'));
        expect(log).toEqual([]);
        expect(state.waited).toHaveLength(1);
        let settled = false;
        const pending = (state.waited[0] as Promise<void>).then(() => (settled = true));
        await new Promise((resolve) => setImmediate(resolve));
        expect(settled).toBe(false);
        held.open();
        await pending;
        expect(log).toEqual(['model end delivered', 'request run end delivered']);
      });
    });
  });
}
