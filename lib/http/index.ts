/**
 * `callscope/http`: a request scope for HTTP servers without a framework. Each request is one root run,
 * active in context for everything its handler does, with per-request handlers, the caller's trace continued
 * from its headers, cancellation when the client goes away, and the request's events flushed before (or
 * after) the response. `withRunScope` wraps a `node:http` request listener, `withRunScopeFetch` a
 * Web-standard `(request) => Response` handler. `callscope/express`, `callscope/fastify` and `callscope/hono`
 * do the same for those frameworks, with the same options.
 *
 * Every public name of this entry point is listed here.
 */
export { withRunScope } from './node';
export { withRunScopeFetch } from './fetch';
export type { FlushMode, RequestRunInput, RequestRunOutput, RunScopeOptions } from './internal/scope';
