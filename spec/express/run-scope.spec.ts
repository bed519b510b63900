import express, { type NextFunction, type Request, type Response } from 'express';
import http from 'node:http';
import { ConfigError, getCurrentConfig, RunCollector, RunnableLambda, type CollectedRun } from '../../lib';
import { runScope } from '../../lib/express';
import { describeRequestScope, failRoute, HOLD_HEADER, ID_HEADER, type ServerState, streamChat, type ScopeRequest } from '../helpers/http-pipeline';
import { listen } from '../helpers/listen';
import { useOpenTelemetry } from '../helpers/opentelemetry';

const otel = useOpenTelemetry();

function idOf(req: Request): string | undefined {
  return req.get(ID_HEADER);
}

async function start(state: ServerState, scope: ScopeRequest) {
  const app = express();
  app.use(
    runScope({
      handlers: (req) => state.handlersFor(idOf(req)),
      ...(scope.flush === undefined ? {} : { flush: scope.flush }),
      ...(scope.propagate === undefined ? {} : { propagate: scope.propagate }),
      ...(scope.waitUntil ? { waitUntil: state.waitUntil } : {}),
    }),
  );
  app.get('/chat', async (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    await streamChat(idOf(req) ?? 'anonymous', req.get(HOLD_HEADER) === '1', (event) => res.write(event));
    res.end();
  });
  app.get('/fail', async (req) => failRoute(state, idOf(req) ?? 'anonymous'));
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    state.frameworkErrors.set(idOf(req) ?? 'anonymous', error);
    res.status(500).end();
  });
  return listen(http.createServer(app));
}

/** Runs `body` against an app built by `build`, after `runScope` with a collector for every request. */
async function withApp(build: (app: express.Express) => void, body: (origin: string) => Promise<void>): Promise<CollectedRun[]> {
  const collector = new RunCollector();
  const app = express();
  app.use(runScope({ handlers: () => [collector] }));
  build(app);
  const server = await listen(http.createServer(app));
  try {
    await body(server.origin);
  } finally {
    await server.close();
  }
  return collector.runs;
}

const step = RunnableLambda.from((where: string) => where, { name: 'step' });

describe('runScope (Express 5)', () => {
  describeRequestScope(start, otel);

  describe('the request run is active across Express hops', () => {
    it('in middleware after await, after express.json() parsed the body, and in the route', async () => {
      const runs = await withApp(
        (app) => {
          app.use(async (_req, _res, next) => {
            await Promise.resolve();
            await step.invoke('middleware');
            next();
          });
          app.post('/echo', express.json(), async (req, res) => {
            await step.invoke('route');
            res.json(req.body);
          });
        },
        async (origin) => {
          const response = await fetch(`${origin}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 1 }) });
          expect(await response.json()).toEqual({ a: 1 });
        },
      );
      expect(runs).toHaveLength(1);
      const root = runs[0] as CollectedRun;
      expect(root.name).toBe('POST /echo');
      expect(root.outputs).toEqual({ status: 200 });
      expect(root.children.map((child) => child.inputs)).toEqual([{ input: 'middleware' }, { input: 'route' }]);
    });

    it('in the error handler', async () => {
      const runs = await withApp(
        (app) => {
          app.get('/boom', () => {
            throw new Error('boom');
          });
          app.use(async (_error: unknown, _req: Request, res: Response, _next: NextFunction) => {
            await step.invoke('error handler');
            res.status(500).send(getCurrentConfig() === undefined ? 'no run' : 'in run');
          });
        },
        async (origin) => {
          const response = await fetch(`${origin}/boom`);
          expect(await response.text()).toBe('in run');
        },
      );
      const root = runs[0] as CollectedRun;
      expect((root.error as Error).message).toBe('boom');
      expect(root.children.map((child) => child.inputs)).toEqual([{ input: 'error handler' }]);
    });
  });

  describe('how the response is ended', () => {
    it('a response whose own `end` a middleware wrapped before the scope still ends the run, through that wrapper', async () => {
      const wrapped: string[] = [];
      const collector = new RunCollector();
      const app = express();
      app.use((_req, res, next) => {
        // As compression-style middleware does: the response's own `end`, wrapped per response.
        const end = res.end.bind(res) as (...args: unknown[]) => Response;
        res.end = ((...args: unknown[]) => {
          wrapped.push('end');
          return end(...args);
        }) as Response['end'];
        next();
      });
      app.use(runScope({ handlers: () => [collector] }));
      app.get('/', (_req, res) => {
        res.send('ok');
      });
      const server = await listen(http.createServer(app));
      try {
        expect(await (await fetch(server.origin)).text()).toBe('ok');
      } finally {
        await server.close();
      }
      expect(wrapped).toEqual(['end']);
      expect(collector.runs.map((run) => [run.name, run.outputs])).toEqual([['GET /', { status: 200 }]]);
    });

    it('an app without the scope, in the same process, answers as usual and starts no run', async () => {
      const collector = new RunCollector();
      const scoped = express();
      scoped.use(runScope({ handlers: () => [collector] }));
      scoped.get('/', (_req, res) => void res.send(getCurrentConfig() === undefined ? 'no run' : 'in run'));
      const plain = express();
      plain.get('/', (_req, res) => void res.send(getCurrentConfig() === undefined ? 'no run' : 'in run'));
      const servers = [await listen(http.createServer(scoped)), await listen(http.createServer(plain))];
      try {
        const [first, second] = servers;
        expect(await (await fetch((first as { origin: string }).origin)).text()).toBe('in run');
        expect(await (await fetch((second as { origin: string }).origin)).text()).toBe('no run');
        expect(await (await fetch((first as { origin: string }).origin)).text()).toBe('in run');
      } finally {
        for (const server of servers) await server.close();
      }
      expect(collector.runs.map((run) => run.outputs)).toEqual([{ status: 200 }, { status: 200 }]);
    });

    it('routes that end the response at once and routes that end it later, served concurrently, each end their own run with their own status', async () => {
      const runs = await withApp(
        (app) => {
          app.get('/now/:status', (req, res) => void res.status(Number(req.params.status)).send('now'));
          app.get('/later/:status', async (req, res) => {
            await new Promise((resolve) => setImmediate(resolve));
            res.status(Number(req.params.status)).send('later');
          });
        },
        async (origin) => {
          const statuses = [200, 201, 202, 203, 226, 299];
          const paths = Array.from({ length: 40 }, (_, i) => `/${i % 2 === 0 ? 'now' : 'later'}/${statuses[i % statuses.length]}`);
          const bodies = await Promise.all(paths.map(async (path) => (await fetch(origin + path)).text()));
          expect(bodies).toEqual(paths.map((path) => path.split('/')[1]));
        },
      );
      expect(runs).toHaveLength(40);
      for (const run of runs) expect(run.outputs).toEqual({ status: Number(run.name.split('/')[2]) });
    });

    it('a route that has the app handle another request before it ends its own response ends both runs, each with its own status', async () => {
      const runs = await withApp(
        (app) => {
          app.get('/inner', (_req, res) => void res.status(204).end());
          app.get('/outer', (_req, res) => {
            // Re-entrant: the app handles a request of its own making, synchronously, inside this route.
            const innerRequest = new http.IncomingMessage(null as never);
            innerRequest.method = 'GET';
            innerRequest.url = '/inner';
            const innerResponse = new http.ServerResponse(innerRequest);
            app(innerRequest as Request, innerResponse as Response);
            // Its status is set; its end waits for its run's events ('before-response'), checked below.
            res.status(200).send(innerResponse.statusCode === 204 ? 'inner answered' : 'inner did not answer');
          });
        },
        async (origin) => {
          expect(await (await fetch(`${origin}/outer`)).text()).toBe('inner answered');
        },
      );
      expect(runs.map((run) => [run.name, run.outputs])).toEqual([['GET /outer', { status: 200 }]]);
      expect((runs[0] as CollectedRun).children.map((child) => [child.name, child.outputs])).toEqual([['GET /inner', { status: 204 }]]);
    });

    it('two nested scopes (a scoped sub-app under a scoped app) both end, the inner run first, as a child of the outer', async () => {
      const collector = new RunCollector();
      const sub = express();
      sub.use(runScope({ runName: () => 'inner' }));
      sub.get('/x', (_req, res) => void res.send('ok'));
      const app = express();
      app.use(runScope({ handlers: () => [collector], runName: () => 'outer' }));
      app.use('/sub', sub);
      const server = await listen(http.createServer(app));
      try {
        expect(await (await fetch(`${server.origin}/sub/x`)).text()).toBe('ok');
      } finally {
        await server.close();
      }
      expect(collector.runs).toHaveLength(1);
      const outer = collector.runs[0] as CollectedRun;
      expect([outer.name, outer.outputs]).toEqual(['outer', { status: 200 }]);
      expect(outer.children.map((child) => [child.name, child.outputs])).toEqual([['inner', { status: 200 }]]);
      expect((outer.children[0] as CollectedRun).endTime).toBeLessThanOrEqual(outer.endTime as number);
    });
  });

  it('refuses bad options with a ConfigError', () => {
    expect(() => runScope({ flush: 'always' } as never)).toThrow(ConfigError);
    expect(() => runScope({ handler: () => [] } as never)).toThrow(expect.objectContaining({ field: 'handler' }));
  });
});
