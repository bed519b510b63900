/**
 * `callscope/express`: the request scope as Express 5 middleware. Needs the optional peer `express` (only its
 * types are used; the middleware is plain Express).
 *
 * Every public name of this entry point is listed here.
 */
export { runScope } from './run-scope';
export type { ExpressRunScopeOptions } from './run-scope';
