/**
 * What `callscope/express`, `callscope/fastify` and `callscope/hono` build on: the request scope's options and
 * run machinery, shared with `callscope/http`. Not part of the public API.
 *
 * @internal
 */
export {
  Exchange,
  parseScopeOptions,
  responsePrototypeOf,
  runFetchExchange,
  startRequestRun,
  startServerRun,
  type FlushMode,
  type RequestFacts,
  type RunScopeOptions,
  type ScopeSettings,
} from './scope';
