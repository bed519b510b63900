import express from 'express';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { AbortError, AsyncCallbackHandler, awaitAllCallbacks, configure, getCurrentConfig, RunnableLambda, type ChainValues } from '../../lib';
import { runScope } from '../../lib/express';
import { withRunScope, type RunScopeOptions } from '../../lib/http';
import { RequestRecord } from '../helpers/http-pipeline';
import { listen } from '../helpers/listen';

// The request scope makes the request's AbortSignal only when something reads it, and with 'before-response'
// ends the response at once when the request run reports to no handler and none of its tree's background
// events is pending. These specs check that both shortcuts keep the scope's promises.

type Route = (req: IncomingMessage, res: ServerResponse) => unknown;
type Options = RunScopeOptions<IncomingMessage>;

/** Serves `route` behind the adapter's request scope, on 127.0.0.1. */
type Serve = (route: Route, options?: Options) => Promise<{ origin: string; close: () => Promise<void> }>;

const serveNode: Serve = (route, options) => {
  const listener = withRunScope(route, options);
  return listen(http.createServer((req, res) => void listener(req, res)));
};

const serveExpress: Serve = (route, options) => {
  const app = express();
  app.use(runScope(options as RunScopeOptions<express.Request>));
  app.get('/', (req, res) => route(req, res));
  return listen(http.createServer(app));
};

async function withServer(serve: Serve, route: Route, options: Options | undefined, body: (origin: string) => Promise<void>): Promise<void> {
  const server = await serve(route, options);
  try {
    await body(server.origin);
  } finally {
    await server.close();
  }
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
        const controller = new AbortController();
        const response = await fetch(origin + '/', { signal: controller.signal });
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        await reader.read();
        controller.abort();
        await reader.cancel().catch(() => undefined);
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
