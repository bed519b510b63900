/**
 * `callscope/hono`: the request scope as Hono 4 middleware, on any runtime Hono runs on. Needs the optional
 * peer `hono` (only its types are used).
 *
 * Every public name of this entry point is listed here.
 */
export { runScope } from './run-scope';
export type { HonoRunScopeOptions } from './run-scope';
