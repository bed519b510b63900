import { Hono, type Context } from 'hono';
import { stream } from 'hono/streaming';
import { ConfigError, getCurrentConfig, RunCollector, RunnableLambda, type CollectedRun } from '../../lib';
import { runScope } from '../../lib/hono';
import { describeRequestScope, failRoute, HOLD_HEADER, ID_HEADER, type ServerState, streamChat, type ScopeRequest } from '../helpers/http-pipeline';
import { serveFetch } from '../helpers/listen';
import { useOpenTelemetry } from '../helpers/opentelemetry';

const otel = useOpenTelemetry();

function idOf(c: Context): string | undefined {
  return c.req.header(ID_HEADER);
}

async function start(state: ServerState, scope: ScopeRequest) {
  const app = new Hono();
  app.use(
    '*',
    runScope({
      handlers: (c) => state.handlersFor(idOf(c)),
      ...(scope.flush === undefined ? {} : { flush: scope.flush }),
      ...(scope.propagate === undefined ? {} : { propagate: scope.propagate }),
      ...(scope.waitUntil ? { waitUntil: state.waitUntil } : {}),
    }),
  );
  app.get('/chat', (c) => {
    c.header('content-type', 'text/event-stream');
    return stream(c, async (out) => {
      await streamChat(idOf(c) ?? 'anonymous', c.req.header(HOLD_HEADER) === '1', (event) => out.write(event));
    });
  });
  app.get('/fail', async (c) => failRoute(state, idOf(c) ?? 'anonymous'));
  app.onError((error, c) => {
    state.frameworkErrors.set(idOf(c) ?? 'anonymous', error);
    return c.text('failed', 500);
  });
  return serveFetch(app.fetch);
}

const step = RunnableLambda.from((where: string) => where, { name: 'step' });

describe('runScope (Hono 4)', () => {
  describeRequestScope(start, otel);

  describe('the request run is active across Hono hops', () => {
    it('after await next() in later middleware, after c.req.json(), in the handler and in onError', async () => {
      const collector = new RunCollector();
      const app = new Hono();
      app.use('*', runScope({ handlers: () => [collector] }));
      app.use('*', async (_c, next) => {
        await step.invoke('middleware');
        await next();
      });
      app.post('/echo', async (c) => {
        const body: unknown = await c.req.json();
        await step.invoke('handler');
        return c.json(body);
      });
      app.get('/boom', () => {
        throw new Error('boom');
      });
      app.onError(async (_error, c) => {
        await step.invoke('onError');
        return c.text(getCurrentConfig() === undefined ? 'no run' : 'in run', 500);
      });
      const server = await serveFetch(app.fetch);
      try {
        const echo = await fetch(`${server.origin}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 1 }) });
        expect(await echo.json()).toEqual({ a: 1 });
        const boom = await fetch(`${server.origin}/boom`);
        expect(await boom.text()).toBe('in run');
      } finally {
        await server.close();
      }
      const [echoRun, boomRun] = collector.runs as [CollectedRun, CollectedRun];
      expect(echoRun.name).toBe('POST /echo');
      expect(echoRun.outputs).toEqual({ status: 200 });
      expect(echoRun.children.map((child) => child.inputs)).toEqual([{ input: 'middleware' }, { input: 'handler' }]);
      expect((boomRun.error as Error).message).toBe('boom');
      expect(boomRun.children.map((child) => child.inputs)).toEqual([{ input: 'middleware' }, { input: 'onError' }]);
    });
  });

  it('refuses bad options with a ConfigError', () => {
    expect(() => runScope({ tags: [1] } as never)).toThrow(ConfigError);
  });
});
