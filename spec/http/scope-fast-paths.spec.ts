import express from 'express';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { AbortError, AsyncCallbackHandler, awaitAllCallbacks, configure, type CallbackManager, getCurrentConfig, RunCollector, RunnableLambda, type ChainValues } from '../../lib';
import { runScope } from '../../lib/express';
import { withRunScope, type RunScopeOptions } from '../../lib/http';
import * as runIds from '../../lib/internal/run-id';
import { RequestRecord } from '../helpers/http-pipeline';
import { listen } from '../helpers/listen';

// The request scope makes the request's AbortSignal only when something reads it; a request run that reports
// to no handler runs its body straight in its scope, without the run's promises, and listens for the client
// going away only if the route did not end the response at once; with 'before-response' it ends the response
// at once when the request run reports to no handler and none of its tree's background events is pending.
// These specs check that these shortcuts keep the scope's promises.

type Route = (req: IncomingMessage, res: ServerResponse) => unknown;
type Options = RunScopeOptions<IncomingMessage>;
/** A step of the server before the request scope (an earlier listener or middleware); it calls `next` to go on. */
type Before = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

/** Serves `route` behind the adapter's request scope, on 127.0.0.1, with `before` (if given) ahead of the scope. */
type Serve = (route: Route, options?: Options, before?: Before) => Promise<{ origin: string; close: () => Promise<void> }>;

const serveNode: Serve = (route, options, before) => {
  const listener = withRunScope(route, options);
  return listen(
    http.createServer((req, res) => {
      if (before === undefined) void listener(req, res);
      else before(req, res, () => void listener(req, res));
    }),
  );
};

const serveExpress: Serve = (route, options, before) => {
  const app = express();
  if (before !== undefined) app.use((req, res, next) => before(req, res, () => next()));
  app.use(runScope(options as RunScopeOptions<express.Request>));
  app.get('/', (req, res) => route(req, res));
  return listen(http.createServer(app));
};

async function withServer(
  serve: Serve,
  route: Route,
  options: Options | undefined,
  body: (origin: string) => Promise<void>,
  before?: Before,
): Promise<void> {
  const server = await serve(route, options, before);
  try {
    await body(server.origin);
  } finally {
    await server.close();
  }
}

/** A client that reads the first chunk of `GET /`, then goes away. */
async function leaveAfterFirstChunk(origin: string): Promise<void> {
  const controller = new AbortController();
  const response = await fetch(origin + '/', { signal: controller.signal });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  controller.abort();
  await reader.cancel().catch(() => undefined);
}

/** Logs the end of `child` runs, after a few turns of the event loop (a response not held would overtake it). */
class SlowEndLog extends AsyncCallbackHandler {
  constructor(private readonly log: string[]) {
    super();
  }

  override async handleChainEnd(outputs: ChainValues): Promise<void> {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    if (outputs.output === 'child done') this.log.push('child end delivered');
  }
}

const child = RunnableLambda.from(() => 'child done', { name: 'child' });

describe.each([
  ['withRunScope (node:http)', serveNode],
  ['runScope (Express 5)', serveExpress],
])('%s: the scope without a signal made up front', (_name, serve) => {
  it("gives a route that starts no run the request's signal when it reads it, also through a spread copy", async () => {
    await withServer(
      serve,
      (_req, res) => {
        const config = getCurrentConfig();
        const signal = config?.signal;
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            inRun: config !== undefined,
            isSignal: signal instanceof AbortSignal,
            aborted: signal?.aborted,
            sameEveryRead: config?.signal === signal,
            spreadCarriesIt: { ...config }.signal === signal,
          }),
        );
      },
      undefined,
      async (origin) => {
        const response = await fetch(origin + '/');
        expect(await response.json()).toEqual({ inRun: true, isSignal: true, aborted: false, sameEveryRead: true, spreadCarriesIt: true });
      },
    );
  });

  it('aborts the request run when the client goes away, even if nothing had read the signal yet', async () => {
    const record = new RequestRecord();
    let signalAfterClose: AbortSignal | undefined;
    await withServer(
      serve,
      (_req, res) => {
        const config = getCurrentConfig();
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first');
        res.once('close', () => {
          signalAfterClose = config?.signal;
        });
      },
      { handlers: () => record.handlers },
      async (origin) => {
        await leaveAfterFirstChunk(origin);
        await record.ended;
      },
    );
    const root = await record.ended;
    expect(root.error).toBeInstanceOf(AbortError);
    expect((root.error as AbortError).runName).toBe('GET /');
    expect(record.collector.allRuns()).toHaveLength(1);
    expect(record.invariant.violations()).toEqual([]);
    expect(signalAfterClose?.aborted).toBe(true);
    expect((signalAfterClose?.reason as Error).name).toBe('ClientDisconnectedError');
  });

  it('aborts what the route started when the client goes away, also when the request run itself has no handler', async () => {
    // No handler on the request: the request run is one nobody observes; the child has a handler of its own.
    const collector = new RunCollector();
    const waitForAbort = RunnableLambda.from(
      (_input: undefined, config) =>
        new Promise<string>((resolve) => config.signal?.addEventListener('abort', () => resolve('too late'), { once: true })),
      { name: 'waitForAbort' },
    );
    let requestSignal: AbortSignal | undefined;
    let childFailed: (error: unknown) => void = () => undefined;
    const childError = new Promise<unknown>((resolve) => (childFailed = resolve));
    await withServer(
      serve,
      async (_req, res) => {
        requestSignal = getCurrentConfig()?.signal;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first');
        try {
          res.end(await waitForAbort.invoke(undefined, { callbacks: [collector] }));
        } catch (error) {
          childFailed(error);
        }
      },
      undefined,
      async (origin) => {
        await leaveAfterFirstChunk(origin);
        await childError;
      },
    );
    expect(await childError).toBeInstanceOf(AbortError);
    expect(requestSignal?.aborted).toBe(true);
    expect((requestSignal?.reason as Error).name).toBe('ClientDisconnectedError');
    const [run] = collector.allRuns();
    expect(collector.allRuns()).toHaveLength(1);
    expect(run?.name).toBe('waitForAbort');
    expect(run?.error).toBeInstanceOf(AbortError);
    // A child of the request's run, not a root: the run nobody observes still has its id.
    expect(run?.parentRunId).toEqual(expect.any(String));
  });

  it('aborts the request run at once when the client went away before the scope began', async () => {
    const record = new RequestRecord();
    let arrived: () => void = () => undefined;
    const reachedServer = new Promise<void>((resolve) => (arrived = resolve));
    let seen: (state: { aborted: boolean | undefined; reason: string | undefined }) => void = () => undefined;
    const routeSaw = new Promise<{ aborted: boolean | undefined; reason: string | undefined }>((resolve) => (seen = resolve));
    await withServer(
      serve,
      async () => {
        const signal = getCurrentConfig()?.signal;
        await new Promise((resolve) => setImmediate(resolve));
        seen({ aborted: signal?.aborted, reason: (signal?.reason as Error | undefined)?.name });
      },
      { handlers: () => record.handlers },
      async (origin) => {
        const controller = new AbortController();
        const request = fetch(origin + '/', { signal: controller.signal }).catch((error: unknown) => error);
        await reachedServer;
        controller.abort();
        expect(((await request) as { name?: unknown }).name).toBe('AbortError'); // the client's own fetch, aborted
        await routeSaw;
        await record.ended;
      },
      // The step before the scope goes on only once the client has gone.
      (_req, res, next) => {
        res.once('close', next);
        arrived();
      },
    );
    expect(await routeSaw).toEqual({ aborted: true, reason: 'ClientDisconnectedError' });
    const root = await record.ended;
    expect(root.error).toBeInstanceOf(AbortError);
    expect(record.invariant.violations()).toEqual([]);
  });

  describe('a request nobody observes', () => {
    const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

    afterEach(() => {
      jest.restoreAllMocks();
    });

    it("makes no run id for a route that reads none (the run has no event to carry it)", async () => {
      const made = jest.spyOn(runIds, 'newRunId');
      await withServer(
        serve,
        (_req, res) => {
          res.end(getCurrentConfig() === undefined ? 'no run' : 'in run');
        },
        undefined,
        async (origin) => {
          for (let i = 0; i < 3; i++) expect(await (await fetch(origin + '/')).text()).toBe('in run');
        },
      );
      expect(made).not.toHaveBeenCalled();
    });

    it("makes the request run's id when something reads it: one id per request, the parent of the runs the route starts", async () => {
      const collector = new RunCollector();
      const seen: { id: string | undefined; again: string | undefined }[] = [];
      await withServer(
        serve,
        async (_req, res) => {
          const id = (getCurrentConfig()?.callbacks as CallbackManager | undefined)?.parentRunId;
          await child.invoke(undefined, { callbacks: [collector] });
          seen.push({ id, again: (getCurrentConfig()?.callbacks as CallbackManager | undefined)?.parentRunId });
          res.end('ok');
        },
        undefined,
        async (origin) => {
          for (let i = 0; i < 2; i++) expect(await (await fetch(origin + '/')).text()).toBe('ok');
        },
      );
      expect(seen).toHaveLength(2);
      const ids = seen.map(({ id }) => id as string);
      for (const { id, again } of seen) {
        expect(id).toMatch(UUID_V7);
        expect(again).toBe(id);
      }
      expect(new Set(ids).size).toBe(2);
      const children = collector.allRuns();
      expect(children.map((run) => run.name)).toEqual(['child', 'child']);
      expect(children.map((run) => run.parentRunId)).toEqual(ids);
    });

    it("makes the id when a run started in the route reads it first, and flushes that run's tree by it", async () => {
      configure({ callbacks: 'background' });
      try {
        const log: string[] = [];
        const parents: (string | undefined)[] = [];
        const collector = new RunCollector();
        await withServer(
          serve,
          async (_req, res) => {
            await child.invoke(undefined, { callbacks: [new SlowEndLog(log), collector] });
            parents.push((getCurrentConfig()?.callbacks as CallbackManager | undefined)?.parentRunId);
            res.end('ok');
          },
          { flush: 'before-response' },
          async (origin) => {
            expect(await (await fetch(origin + '/')).text()).toBe('ok');
            log.push('client read the whole response');
          },
        );
        await awaitAllCallbacks();
        expect(log).toEqual(['child end delivered', 'client read the whole response']);
        expect(parents[0]).toMatch(UUID_V7);
        expect(collector.allRuns().map((run) => run.parentRunId)).toEqual(parents);
      } finally {
        await awaitAllCallbacks();
        configure({ callbacks: 'blocking' });
      }
    });
  });

  describe("'before-response' with background delivery", () => {
    beforeEach(() => {
      configure({ callbacks: 'background' });
    });
    afterEach(async () => {
      await awaitAllCallbacks();
      configure({ callbacks: 'blocking' });
    });

    it('holds the response for the events of runs inside the request even when the request run has no handler', async () => {
      const log: string[] = [];
      let heldAfterEnd: boolean | undefined;
      await withServer(
        serve,
        async (_req, res) => {
          res.end(await child.invoke(undefined, { callbacks: [new SlowEndLog(log)] }));
          heldAfterEnd = !res.writableEnded;
        },
        { flush: 'before-response' },
        async (origin) => {
          const response = await fetch(origin + '/');
          expect(await response.text()).toBe('child done');
          log.push('client read the whole response');
        },
      );
      expect(heldAfterEnd).toBe(true);
      expect(log).toEqual(['child end delivered', 'client read the whole response']);
    });

    it('does not hold the response when the request run has no handler and nothing of its tree is pending', async () => {
      let endedAtOnce: boolean | undefined;
      await withServer(
        serve,
        async (_req, res) => {
          await child.invoke(undefined); // a run inside the request, with nobody listening
          res.end(getCurrentConfig() === undefined ? 'no run' : 'in run');
          endedAtOnce = res.writableEnded;
        },
        { flush: 'before-response', handlers: () => [] },
        async (origin) => {
          const response = await fetch(origin + '/');
          expect(await response.text()).toBe('in run');
        },
      );
      expect(endedAtOnce).toBe(true);
    });
  });
});
