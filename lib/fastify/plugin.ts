import type { FastifyError, FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { Exchange, parseScopeOptions, responsePrototypeOf, startServerRun, type RunScopeOptions, type ScopeSettings } from '../http/internal';

/** Options of {@link runScopePlugin}: the request scope's options, given Fastify's `request`. */
export type FastifyRunScopeOptions = RunScopeOptions<FastifyRequest>;

// Keys Fastify itself accepts in `register` options; they are not ours to refuse.
const REGISTER_KEYS = ['prefix', 'logLevel', 'logSerializers'];

const routeErrors = new WeakMap<FastifyRequest, unknown>();

function routeErrorOf(request: FastifyRequest): unknown {
  return routeErrors.get(request);
}

function register(fastify: FastifyInstance, options: FastifyRunScopeOptions, done: (error?: Error) => void): void {
  const own = Object.fromEntries(Object.entries(options).filter(([key]) => !REGISTER_KEYS.includes(key)));
  let settings: ScopeSettings<FastifyRequest, []>;
  try {
    settings = parseScopeOptions<FastifyRequest, []>(own, 'runScopePlugin');
  } catch (error) {
    done(error as Error);
    return;
  }
  fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, hookDone: HookHandlerDoneFunction) => {
    const exchange = new Exchange(settings.flush);
    try {
      startServerRun(
        exchange,
        settings,
        request,
        reply.raw,
        request.raw.method ?? request.method,
        request.raw.url ?? request.url,
        settings.propagate ? request.headers : undefined,
        routeErrorOf,
        responsePrototypeOf(reply.raw),
        // Everything after this hook (body parsing, later hooks, the handler, error handling) continues from here.
        () => hookDone(),
        (error) => {
          if (!exchange.aborted) hookDone(error as Error);
        },
      );
    } catch (error) {
      hookDone(error as Error);
    }
  });
  fastify.addHook('onError', (request: FastifyRequest, _reply: FastifyReply, error: FastifyError, hookDone: () => void) => {
    if (!routeErrors.has(request)) routeErrors.set(request, error);
    hookDone();
  });
  done();
}

/**
 * A Fastify 5 plugin that makes each request one root run, for every route of the instance it is
 * registered on: a `chain` run named `'METHOD /path'` (input `{ method, url }`, output `{ status }`),
 * started in an `onRequest` hook and active in context for everything after it (body parsing, later hooks,
 * the handler, error handling), with the request's own handlers, tags and metadata. The run ends when the
 * response is ended; a client that disconnects before that aborts the run tree through its `signal`; an
 * error in a route reaches Fastify's error handling unchanged and the run ends with an error event for it.
 * See {@link RunScopeOptions} for the options.
 *
 * @throws {@link ConfigError} (when registered) when an option is invalid.
 * @example
 * ```ts
 * const app = Fastify();
 * await app.register(runScopePlugin, { handlers: (request) => [new ConsoleTracer()], propagate: true });
 * app.post('/chat', async (request) => ({ answer: await agent.invoke((request.body as { question: string }).question) }));
 * ```
 */
export const runScopePlugin: FastifyPluginCallback<FastifyRunScopeOptions> = register;
// fastify-plugin's convention, without the dependency: skip Fastify's encapsulation so the hooks apply to
// every route of the instance the plugin is registered on, not only to routes registered inside it.
Object.assign(register, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'callscope-run-scope',
  [Symbol.for('plugin-meta')]: { name: 'callscope-run-scope', fastify: '5.x' },
});
