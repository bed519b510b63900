import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { AsyncCallbackHandler, ConfigError, getCurrentConfig, RunCollector, RunnableLambda } from '../../lib';
import { withRunScope } from '../../lib/http';
import { describeRequestScope, failRoute, HOLD_HEADER, ID_HEADER, type ServerState, streamChat, type ScopeRequest } from '../helpers/http-pipeline';
import { listen } from '../helpers/listen';
import { useOpenTelemetry } from '../helpers/opentelemetry';

const otel = useOpenTelemetry();

function idOf(req: IncomingMessage): string | undefined {
  const id = req.headers[ID_HEADER];
  return typeof id === 'string' ? id : undefined;
}

async function route(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const id = idOf(req) ?? 'anonymous';
  if (req.url === '/fail') await failRoute(state, id);
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  await streamChat(id, req.headers[HOLD_HEADER] === '1', (event) => res.write(event));
  res.end();
}

async function start(state: ServerState, scope: ScopeRequest) {
  const listener = withRunScope((req, res) => route(state, req, res), {
    handlers: (req) => state.handlersFor(idOf(req)),
    ...(scope.flush === undefined ? {} : { flush: scope.flush }),
    ...(scope.propagate === undefined ? {} : { propagate: scope.propagate }),
    ...(scope.waitUntil ? { waitUntil: state.waitUntil } : {}),
  });
  // node:http has no error handling of its own: the returned promise rejecting is what reaches the caller.
  const server = http.createServer((req, res) => {
    listener(req, res).catch((error: unknown) => {
      state.frameworkErrors.set(idOf(req) ?? 'anonymous', error);
      res.statusCode = 500;
      res.end();
    });
  });
  return listen(server);
}

function voidListener(listener: (req: IncomingMessage, res: ServerResponse) => Promise<void>) {
  return (req: IncomingMessage, res: ServerResponse): void => void listener(req, res);
}

describe('withRunScope (node:http)', () => {
  describeRequestScope(start, otel);

  it('names the run with runName and adds tags and metadata', async () => {
    const seen: { name: string; tags: readonly string[]; metadata: unknown }[] = [];
    const probe = {
      handleChainStart: (...args: unknown[]) => {
        seen.push({ name: args[7] as string, tags: args[4] as string[], metadata: args[5] });
      },
    };
    const inner = RunnableLambda.from(() => 'ok', { name: 'inner' });
    const server = await listen(
      http.createServer(
        voidListener(withRunScope(
          async (_req, res) => {
            res.end(await inner.invoke(undefined));
          },
          { handlers: () => [probe], runName: (req) => `route ${req.url}`, tags: ['http'], metadata: (req) => ({ agent: req.headers['user-agent'] ?? '' }) },
        )),
      ),
    );
    try {
      const response = await fetch(`${server.origin}/x?y=1`, { headers: { 'user-agent': 'spec' } });
      expect(await response.text()).toBe('ok');
    } finally {
      await server.close();
    }
    expect(seen).toEqual([
      { name: 'route /x?y=1', tags: ['http'], metadata: { agent: 'spec' } },
      { name: 'inner', tags: ['http'], metadata: { agent: 'spec' } },
    ]);
  });

  describe("the response's `end`", () => {
    /** Own property names and symbols of a response (read once it has finished: the scope may hold `end` for a flush). */
    function ownKeys(res: ServerResponse): (string | symbol)[] {
      return [...Object.getOwnPropertyNames(res), ...Object.getOwnPropertySymbols(res)];
    }

    it('is replaced once on the prototype, not on each response: a response ended at once gets no property from the scope', async () => {
      const keys: { scoped?: (string | symbol)[]; plain?: (string | symbol)[] } = {};
      const runs = new RunCollector();
      const scoped = await listen(
        http.createServer(
          voidListener(
            withRunScope(
              (_req, res) => {
                res.on('finish', () => (keys.scoped = ownKeys(res)));
                res.end('scoped');
              },
              { handlers: () => [runs] },
            ),
          ),
        ),
      );
      // A server of the same process without the scope: its responses end as before, and make no run.
      const plain = await listen(
        http.createServer((_req, res) => {
          res.on('finish', () => (keys.plain = ownKeys(res)));
          res.end('plain');
        }),
      );
      try {
        expect(await (await fetch(scoped.origin + '/')).text()).toBe('scoped');
        expect(await (await fetch(plain.origin + '/')).text()).toBe('plain');
        expect(await (await fetch(scoped.origin + '/')).text()).toBe('scoped');
      } finally {
        await scoped.close();
        await plain.close();
      }
      expect(keys.scoped).toEqual(keys.plain);
      expect(Object.prototype.hasOwnProperty.call(http.ServerResponse.prototype, 'end')).toBe(true);
      expect(runs.runs.map((run) => [run.name, run.outputs])).toEqual([
        ['GET /', { status: 200 }],
        ['GET /', { status: 200 }],
      ]);
    });

    it("ends the run through an `end` another layer put on the response before the scope, calling that layer's `end` once", async () => {
      const runs = new RunCollector();
      let wrapperCalls = 0;
      const listener = withRunScope(
        (_req, res) => {
          res.statusCode = 201;
          res.end('wrapped');
        },
        { handlers: () => [runs] },
      );
      const server = await listen(
        http.createServer((req, res) => {
          // As compression or a logging layer does: the response's own `end`, calling the one it replaced.
          const end = res.end.bind(res);
          res.end = ((...args: Parameters<ServerResponse['end']>) => {
            wrapperCalls++;
            return end(...args);
          }) as ServerResponse['end'];
          void listener(req, res);
        }),
      );
      try {
        const response = await fetch(server.origin + '/');
        expect([response.status, await response.text()]).toEqual([201, 'wrapped']);
      } finally {
        await server.close();
      }
      expect(wrapperCalls).toBe(1);
      expect(runs.runs.map((run) => [run.name, run.outputs])).toEqual([['GET /', { status: 201 }]]);
    });
    it('hands the `end` it ends through exactly the arguments the route gave, as many as it gave, and the callback is called', async () => {
      const counts: number[] = [];
      const finished: string[] = [];
      const listener = withRunScope((req, res) => {
        if (req.url === '/none') res.end();
        else if (req.url === '/chunk') res.end('chunk');
        else res.end('all three', 'utf8', () => finished.push(req.url ?? ''));
      });
      const server = await listen(
        http.createServer((req, res) => {
          const end = res.end;
          // A layer that counts its arguments, as some do to tell `end(callback)` from `end(chunk)`.
          res.end = function countingEnd(this: ServerResponse, ...args: unknown[]) {
            counts.push(args.length);
            return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
          } as ServerResponse['end'];
          void listener(req, res);
        }),
      );
      try {
        const bodies = [];
        for (const path of ['/none', '/chunk', '/three']) bodies.push(await (await fetch(server.origin + path)).text());
        expect(bodies).toEqual(['', 'chunk', 'all three']);
      } finally {
        await server.close();
      }
      expect(counts).toEqual([0, 1, 3]);
      expect(finished).toEqual(['/three']);
    });
  });

  it("names each request's run after its method and path, the query left out, however many URLs it has seen", async () => {
    const runs = new RunCollector();
    const server = await listen(http.createServer(voidListener(withRunScope((_req, res) => res.end('ok'), { handlers: () => [runs] }))));
    // More distinct URLs than the names kept between requests, some seen twice, under two methods.
    const requests = Array.from({ length: 700 }, (_, i) => ({ method: i % 3 === 0 ? 'POST' : 'GET', path: `/item/${i % 600}?page=${i}` }));
    try {
      for (let from = 0; from < requests.length; from += 25) {
        await Promise.all(requests.slice(from, from + 25).map(async ({ method, path }) => (await fetch(server.origin + path, { method })).text()));
      }
    } finally {
      await server.close();
    }
    const expected = requests.map(({ method, path }) => `${method} ${path.slice(0, path.indexOf('?'))}`).sort();
    expect(runs.runs.map((run) => run.name).sort()).toEqual(expected);
    expect(runs.runs.map((run) => run.inputs)).toContainEqual({ method: 'POST', url: '/item/0?page=0' });
  });

  describe('the promise the wrapped listener returns', () => {
    type Outcome = { settled: 'pending' } | { settled: 'resolved'; value: unknown } | { settled: 'rejected'; error: unknown };

    /** Serves `listener` wrapped with `options`, sends one request, and reports how the wrapper's promise settled. */
    async function outcomeOf(
      listener: (req: IncomingMessage, res: ServerResponse) => unknown,
      options?: Parameters<typeof withRunScope>[1],
    ): Promise<{ outcome: Outcome; status: number; body: string }> {
      const wrapped = withRunScope(listener, options);
      let outcome: Outcome = { settled: 'pending' };
      let settled!: () => void;
      const done = new Promise<void>((resolve) => (settled = resolve));
      const server = await listen(
        http.createServer((req, res) => {
          wrapped(req, res).then(
            (value) => {
              outcome = { settled: 'resolved', value };
              settled();
            },
            (error: unknown) => {
              outcome = { settled: 'rejected', error };
              if (!res.writableEnded) {
                res.statusCode = 500;
                res.end();
              }
              settled();
            },
          );
        }),
      );
      try {
        const response = await fetch(server.origin + '/');
        const body = await response.text();
        await done;
        return { outcome, status: response.status, body };
      } finally {
        await server.close();
      }
    }

    /** A handler whose start events take a while: the route starts only after them. */
    class SlowStart extends AsyncCallbackHandler {
      override name = 'slow-start';
      override async handleChainStart(): Promise<void> {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }

    it('resolves with undefined when the listener returns at once, with or without handlers', async () => {
      const answer = (_req: IncomingMessage, res: ServerResponse) => {
        res.end(getCurrentConfig() === undefined ? 'no run' : 'ok');
      };
      expect(await outcomeOf(answer)).toEqual({ outcome: { settled: 'resolved', value: undefined }, status: 200, body: 'ok' });
      expect(await outcomeOf(answer, { handlers: () => [new SlowStart({ awaitHandlers: true })] })).toEqual({
        outcome: { settled: 'resolved', value: undefined },
        status: 200,
        body: 'ok',
      });
    });

    it('rejects with what the listener threw, unchanged, and the request run ends with that error', async () => {
      const thrown = new Error('route failed');
      for (const handlers of [undefined, () => [new SlowStart({ awaitHandlers: true })]]) {
        const runs = new RunCollector();
        const { outcome } = await outcomeOf(
          () => {
            throw thrown;
          },
          { handlers: () => [runs, ...(handlers?.() ?? [])] },
        );
        expect(outcome).toEqual({ settled: 'rejected', error: thrown });
        expect(runs.runs).toEqual([expect.objectContaining({ name: 'GET /', error: thrown })]);
      }
      // Nobody observing the run: the promise still carries the error.
      expect((await outcomeOf(() => {
        throw thrown;
      })).outcome).toEqual({ settled: 'rejected', error: thrown });
    });

    it("follows an async listener's promise: resolves when it resolves, rejects with its error", async () => {
      let finished = false;
      const slow = async (_req: IncomingMessage, res: ServerResponse) => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        res.end('ok');
        await new Promise((resolve) => setTimeout(resolve, 10));
        finished = true;
      };
      expect((await outcomeOf(slow)).outcome).toEqual({ settled: 'resolved', value: undefined });
      expect(finished).toBe(true);

      const thrown = new Error('later');
      const failing = async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        throw thrown;
      };
      expect((await outcomeOf(failing)).outcome).toEqual({ settled: 'rejected', error: thrown });
      expect((await outcomeOf(failing, { handlers: () => [new SlowStart({ awaitHandlers: true })] })).outcome).toEqual({ settled: 'rejected', error: thrown });
    });

    it("rejects with the error of an option's function, without calling the listener", async () => {
      const broken = new Error('no handlers today');
      let called = false;
      const { outcome } = await outcomeOf(
        (_req, res) => {
          called = true;
          res.end();
        },
        {
          handlers: () => {
            throw broken;
          },
        },
      );
      expect(outcome).toEqual({ settled: 'rejected', error: broken });
      expect(called).toBe(false);
    });
  });

  describe('options', () => {
    it.each([
      [{ flush: 'sometimes' }, 'flush', "one of 'before-response', 'after-response', 'none'"],
      [{ handlers: [] }, 'handlers', 'a function'],
      [{ tags: 'a' }, 'tags', 'an array of strings'],
      [{ propagate: 'yes' }, 'propagate', 'a boolean'],
      [{ waitUntil: 1 }, 'waitUntil', 'a function'],
    ])('refuses %p with a ConfigError naming the field', (options, field, expected) => {
      const call = () => withRunScope(() => undefined, options as never);
      expect(call).toThrow(ConfigError);
      expect(call).toThrow(expect.objectContaining({ field, message: expect.stringContaining(expected) }));
    });

    it('refuses unknown option keys', () => {
      expect(() => withRunScope(() => undefined, { flsh: 'none' } as never)).toThrow(
        expect.objectContaining({ name: 'ConfigError', field: 'flsh', message: expect.stringContaining('Unknown option `flsh`') }),
      );
    });

    it('refuses a listener that is not a function', () => {
      expect(() => withRunScope(42 as never)).toThrow(expect.objectContaining({ name: 'ConfigError', field: 'listener', message: expect.stringContaining('`42` (number)') }));
    });
  });
});
