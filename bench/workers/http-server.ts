/**
 * A loopback HTTP server for the `http` scenario, in a process of its own so that the load generator and
 * the server do not share a thread: `node:http` or Express, with callscope's request scope, with only a bare
 * `AsyncLocalStorage` context per request (the reference: what any request context built on it costs), or
 * with neither; one trivial route (`GET /` → `ok`). With a scope or a context, the route answers 500 unless
 * it is active there, so a request that ran outside it shows up as a non-2xx response. Prints
 * `{"ports":[...]}` once listening and exits when its stdin closes.
 */
import express from 'express';
import { AsyncLocalStorage } from 'node:async_hooks';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type * as Core from '../../lib';
import type * as Express from '../../lib/express';
import type * as Http from '../../lib/http';
import { workerInput } from '../harness/worker';

/**
 * What each request runs in: nothing (`'none'`), callscope's request scope (`'callscope'`), or only a fresh
 * object entered with `AsyncLocalStorage.run` (`'async-local-storage'`, the floor of any request context kept
 * in one).
 */
export type HttpServerScope = 'none' | 'callscope' | 'async-local-storage';

/** One server the scenario asks for. */
export interface HttpServerVariant {
  readonly framework: 'node:http' | 'express';
  readonly scope: HttpServerScope;
}

/** What the scenario asks for: one server per variant (one variant per process, except in smoke mode). */
export interface HttpServerInput {
  readonly variants: readonly HttpServerVariant[];
}

// The same build the other scenarios measure (bench/target.ts): dist by default, the sources with CALLSCOPE_BENCH_SOURCE=lib.
const fromSource = process.env.CALLSCOPE_BENCH_SOURCE === 'lib';
function load<T>(entry: 'index' | 'http' | 'express'): T {
  const file = fromSource ? path.join(__dirname, '../../lib', entry === 'index' ? '' : entry) : path.join(__dirname, '../../dist', `${entry}.cjs`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the target is chosen at run time
  return require(file) as T;
}

/** Starts one server on 127.0.0.1, port 0. Smoke runs call it in the bench process itself. */
export async function serve({ framework, scope }: HttpServerVariant): Promise<http.Server> {
  const { getCurrentConfig } = load<typeof Core>('index');
  const storage = new AsyncLocalStorage<{ readonly method: string | undefined }>();
  const outside = (): boolean => (scope === 'callscope' ? getCurrentConfig() === undefined : scope === 'async-local-storage' && storage.getStore() === undefined);
  const answer = (res: http.ServerResponse): void => {
    if (outside()) res.statusCode = 500;
    res.end('ok');
  };
  let server: http.Server;
  if (framework === 'node:http') {
    const listener = (_req: http.IncomingMessage, res: http.ServerResponse): void => answer(res);
    if (scope === 'callscope') {
      const scopedListener = load<typeof Http>('http').withRunScope(listener);
      server = http.createServer((req, res) => void scopedListener(req, res));
    } else if (scope === 'async-local-storage') server = http.createServer((req, res) => storage.run({ method: req.method }, listener, req, res));
    else server = http.createServer(listener);
  } else {
    const app = express();
    if (scope === 'callscope') app.use(load<typeof Express>('express').runScope());
    else if (scope === 'async-local-storage') app.use((req, _res, next) => storage.run({ method: req.method }, next));
    app.get('/', (_req, res) => answer(res));
    server = http.createServer(app);
  }
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

async function main(): Promise<void> {
  const servers: http.Server[] = [];
  for (const variant of workerInput<HttpServerInput>().variants) servers.push(await serve(variant));
  console.log(JSON.stringify({ ports: servers.map((server) => (server.address() as AddressInfo).port) }));
  process.stdin.resume();
  await once(process.stdin, 'end');
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
