import Fastify, { type FastifyRequest } from 'fastify';
import { ConfigError, getCurrentConfig, RunCollector, RunnableLambda, type CollectedRun } from '../../lib';
import { runScopePlugin } from '../../lib/fastify';
import { describeRequestScope, failRoute, HOLD_HEADER, ID_HEADER, type ServerState, streamChat, type ScopeRequest } from '../helpers/http-pipeline';
import { useOpenTelemetry } from '../helpers/opentelemetry';

const otel = useOpenTelemetry();

function idOf(request: FastifyRequest): string | undefined {
  const id = request.headers[ID_HEADER];
  return typeof id === 'string' ? id : undefined;
}

async function serve(app: ReturnType<typeof Fastify>) {
  const address: string = await app.listen({ port: 0, host: '127.0.0.1' });
  return { origin: address, close: async (): Promise<void> => {
    await app.close();
  } };
}

async function start(state: ServerState, scope: ScopeRequest) {
  const app = Fastify({ forceCloseConnections: true });
  await app.register(runScopePlugin, {
    handlers: (request) => state.handlersFor(idOf(request)),
    ...(scope.flush === undefined ? {} : { flush: scope.flush }),
    ...(scope.propagate === undefined ? {} : { propagate: scope.propagate }),
    ...(scope.waitUntil ? { waitUntil: state.waitUntil } : {}),
  });
  app.get('/chat', async (request, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream' });
    await streamChat(idOf(request) ?? 'anonymous', request.headers[HOLD_HEADER] === '1', (event) => reply.raw.write(event));
    reply.raw.end();
  });
  app.get('/fail', async (request) => failRoute(state, idOf(request) ?? 'anonymous'));
  app.setErrorHandler((error, request, reply) => {
    state.frameworkErrors.set(idOf(request) ?? 'anonymous', error);
    void reply.status(500).send('failed');
  });
  return serve(app);
}

const step = RunnableLambda.from((where: string) => where, { name: 'step' });

describe('runScopePlugin (Fastify 5)', () => {
  describeRequestScope(start, otel);

  describe('the request run is active across Fastify hops', () => {
    it('in hooks, after body parsing, in the handler and in the error handler, for routes of child plugins too', async () => {
      const collector = new RunCollector();
      const app = Fastify();
      await app.register(runScopePlugin, { handlers: () => [collector] });
      await app.register(async (child) => {
        child.addHook('preHandler', async () => {
          await step.invoke('preHandler');
        });
        child.post('/echo', async (request) => {
          await step.invoke('handler');
          return request.body;
        });
        child.get('/boom', async () => {
          throw new Error('boom');
        });
        child.setErrorHandler(async (_error, _request, reply) => {
          await step.invoke('error handler');
          return reply.status(500).send(getCurrentConfig() === undefined ? 'no run' : 'in run');
        });
      });
      const server = await serve(app);
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
      expect(echoRun.children.map((child) => child.inputs)).toEqual([{ input: 'preHandler' }, { input: 'handler' }]);
      expect(boomRun.name).toBe('GET /boom');
      expect((boomRun.error as Error).message).toBe('boom');
      expect(boomRun.children.map((child) => child.inputs)).toEqual([{ input: 'preHandler' }, { input: 'error handler' }]);
    });
  });

  it('refuses bad options with a ConfigError when registered', async () => {
    const app = Fastify();
    await expect(app.register(runScopePlugin, { flush: 'always' } as never)).rejects.toThrow(ConfigError);
    await app.close().catch(() => undefined);
  });
});
