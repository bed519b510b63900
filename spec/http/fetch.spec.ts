import { RunCollector, RunnableLambda, type CollectedRun } from '../../lib';
import { withRunScopeFetch } from '../../lib/http';
import { describeRequestScope, failRoute, HOLD_HEADER, ID_HEADER, type ServerState, streamChat, type ScopeRequest } from '../helpers/http-pipeline';
import { serveFetch } from '../helpers/listen';
import { useOpenTelemetry } from '../helpers/opentelemetry';

const otel = useOpenTelemetry();

function idOf(request: Request): string | undefined {
  return request.headers.get(ID_HEADER) ?? undefined;
}

async function route(state: ServerState, request: Request): Promise<Response> {
  const id = idOf(request) ?? 'anonymous';
  if (new URL(request.url).pathname === '/fail') return failRoute(state, id);
  const encoder = new TextEncoder();
  let open = true;
  const body = new ReadableStream<Uint8Array>({
    // Called here, inside the request's run: the pipeline it starts is part of it.
    start(controller) {
      streamChat(id, request.headers.get(HOLD_HEADER) === '1', (event) => open && controller.enqueue(encoder.encode(event))).then(
        () => open && controller.close(),
        (error: unknown) => open && controller.error(error),
      );
      return undefined;
    },
    cancel() {
      open = false;
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
}

async function start(state: ServerState, scope: ScopeRequest) {
  const handler = withRunScopeFetch((request: Request) => route(state, request), {
    handlers: (request) => state.handlersFor(idOf(request)),
    ...(scope.flush === undefined ? {} : { flush: scope.flush }),
    ...(scope.propagate === undefined ? {} : { propagate: scope.propagate }),
    ...(scope.waitUntil ? { waitUntil: state.waitUntil } : {}),
  });
  // The platform's error handling: what a rejected handler promise reaches.
  return serveFetch((request) =>
    handler(request).catch((error: unknown) => {
      state.frameworkErrors.set(idOf(request) ?? 'anonymous', error);
      return new Response('failed', { status: 500 });
    }),
  );
}

describe('withRunScopeFetch (Web handlers)', () => {
  describeRequestScope(start, otel);

  it("passes the handler's extra arguments through, and to waitUntil (a Worker's ctx)", async () => {
    const collector = new RunCollector();
    const waited: Promise<void>[] = [];
    const ctx = { waitUntil: (pending: Promise<void>) => waited.push(pending) };
    const echo = RunnableLambda.from((text: string) => text, { name: 'echo' });
    const handler = withRunScopeFetch(
      async (request: Request, env: { greeting: string }, _ctx: typeof ctx) => new Response(await echo.invoke(`${env.greeting} ${new URL(request.url).pathname}`)),
      { handlers: () => [collector], waitUntil: (pending, _request, _env, context) => context.waitUntil(pending) },
    );
    const response = await handler(new Request('http://worker.test/hi?x=1', { method: 'POST' }), { greeting: 'hello' }, ctx);
    expect(await response.text()).toBe('hello /hi');
    expect(waited).toHaveLength(1);
    await waited[0];
    const root = collector.runs[0] as CollectedRun;
    expect(root.name).toBe('POST /hi');
    expect(root.inputs).toEqual({ method: 'POST', url: '/hi?x=1' });
    expect(root.outputs).toEqual({ status: 200 });
    expect(root.children.map((child) => child.name)).toEqual(['echo']);
  });

  it('keeps the run open while the body streams, with a lazily pulled body inside the run', async () => {
    const collector = new RunCollector();
    const step = RunnableLambda.from((n: number) => `chunk ${n}\n`, { name: 'step' });
    const handler = withRunScopeFetch(
      () => {
        let n = 0;
        const encoder = new TextEncoder();
        // `pull` runs when the reader asks, outside the handler: callscope reads the body inside the run.
        return new Response(
          new ReadableStream<Uint8Array>({
            async pull(controller) {
              if (n === 3) return controller.close();
              controller.enqueue(encoder.encode(await step.invoke(n++)));
            },
          }),
        );
      },
      { handlers: () => [collector] },
    );
    const response = await handler(new Request('http://local.test/stream'));
    expect(collector.runs).toEqual([]);
    expect(await response.text()).toBe('chunk 0\nchunk 1\nchunk 2\n');
    const root = collector.runs[0] as CollectedRun;
    expect(root.name).toBe('GET /stream');
    expect(root.children.map((child) => child.inputs)).toEqual([{ input: 0 }, { input: 1 }, { input: 2 }]);
  });
});
