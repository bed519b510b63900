/**
 * `callscope/fastify`: the request scope as a Fastify 5 plugin covering every route. Needs the optional peer
 * `fastify` (only its types are used).
 *
 * Every public name of this entry point is listed here.
 */
export { runScopePlugin } from './plugin';
export type { FastifyRunScopeOptions } from './plugin';
