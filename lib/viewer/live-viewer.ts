import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { z } from 'zod';
import type { RunEndInfo, RunStartInfo } from '../index';
import { RunTracer, parseOrThrow, toJsonError, toJsonValue } from '../internal/for-integrations';
import type { ViewerRun } from './layout';
import { renderPage } from './page';

/** Options of {@link LiveViewer}. */
export interface LiveViewerOptions {
  /**
   * The TCP port to listen on; `0` lets the system pick a free one (read it from `url`).
   * @default 7331
   */
  readonly port?: number;
  /**
   * The interface to listen on. Only the loopback interface by default: the page shows inputs and outputs
   * of your runs, so it is not served to the network unless you say so.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /**
   * How many root runs (with their whole trees) the viewer keeps; the oldest finished ones go first, so a
   * long-lived process does not grow. A page opened later shows what is kept.
   * @default 1000
   */
  readonly maxRootRuns?: number;
}

const OPTIONS = z.strictObject({
  port: z.number().int().min(0).max(65_535).optional(),
  host: z.string().min(1).optional(),
  maxRootRuns: z.number().int().min(1).optional(),
});

const EXPECTATIONS = {
  port: 'a whole number from 0 to 65535',
  host: 'a non-empty host name or IP address',
  maxRootRuns: 'a whole number of at least 1',
};

// Inputs and outputs are kept for every run of up to maxRootRuns trees: cut big values so one huge prompt
// does not hold megabytes per run.
const LIMITS = { maxDepth: 32, maxItems: 500, maxStringLength: 20_000 } as const;
// Token arrival times kept per run (the count goes on beyond it).
const MAX_TOKEN_TIMES = 10_000;
// A page that stops reading (a background tab, a stalled connection) is dropped past this much unsent data.
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
// Streamed tokens are sent in batches at most this often.
const TOKEN_FLUSH_MS = 50;

// A run between its start and end, as the viewer keeps it.
interface LiveRun {
  readonly run: ViewerRun;
  /** The id of the root of its tree, as far as this viewer saw it. */
  readonly root: string;
}

/**
 * A handler that serves the viewer page of `npx callscope view` on a local port and shows runs in it as
 * they start and end, pushed over server-sent events to every open page. Start it, open `url` in a
 * browser, and watch an agent run. It listens on 127.0.0.1 only (unless `host` says otherwise) and keeps
 * the trees of the last `maxRootRuns` root runs. Pages need no network beyond this server.
 *
 * @example
 * ```ts
 * import { LiveViewer } from 'callscope/viewer';
 *
 * const viewer = new LiveViewer({ port: 0 });
 * await viewer.ready;
 * console.log(`Runs at ${viewer.url}`);
 * await agent.invoke('Lisbon', { callbacks: [viewer] });
 * await viewer.close();
 * ```
 */
export class LiveViewer extends RunTracer<LiveRun> {
  /**
   * Resolves once the server listens (then `url` is set); rejects if it cannot (a port in use). A
   * failure is also reported once with `console.warn`, so it is never an unhandled rejection.
   */
  readonly ready: Promise<void>;
  private address: string | undefined;
  private readonly server: Server;
  private readonly host: string;
  private readonly port: number;
  private readonly maxRootRuns: number;
  private readonly runs = new Map<string, LiveRun>();
  // Root ids in start order, and the ids of each root's tree.
  private readonly trees = new Map<string, Set<string>>();
  private readonly clients = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private readonly pendingTokens = new Map<string, number[]>();
  private tokenTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private closing: Promise<void> | undefined;
  private page: string | undefined;

  /**
   * Starts the server.
   *
   * @param options - `port`, `host`, `maxRootRuns`; see {@link LiveViewerOptions}.
   * @throws {@link ConfigError} when an option has the wrong type or value, or is unknown.
   */
  constructor(options: LiveViewerOptions = {}) {
    super();
    const parsed = parseOrThrow(OPTIONS, options, 'LiveViewer options', EXPECTATIONS);
    this.host = parsed.host ?? '127.0.0.1';
    this.port = parsed.port ?? 7331;
    this.maxRootRuns = parsed.maxRootRuns ?? 1000;
    this.server = createServer((request, response) => this.handle(request, response));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.ready = new Promise<void>((resolve, reject) => {
      const failed = (error: Error): void => reject(error);
      this.server.once('error', failed);
      this.server.listen(this.port, this.host, () => {
        this.server.removeListener('error', failed);
        const { port } = this.server.address() as AddressInfo;
        const host = this.host.includes(':') ? `[${this.host}]` : this.host;
        this.address = `http://${host}:${port}/`;
        resolve();
      });
    });
    this.ready.catch((error: unknown) => {
      console.warn(`callscope LiveViewer: could not listen on ${this.host}:${this.port}: ${error instanceof Error ? error.message : String(error)}`);
    });
  }

  /** The page's address, such as `http://127.0.0.1:7331/`, once the server listens (see `ready`); `undefined` before. */
  get url(): string | undefined {
    return this.address;
  }

  /**
   * Stops the server: open pages are disconnected, the port is released, later runs are ignored.
   * Resolves when the server has closed; calling it again returns the same promise.
   *
   * @returns a promise that resolves once nothing is left running.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.tokenTimer !== undefined) clearTimeout(this.tokenTimer);
    this.tokenTimer = undefined;
    this.pendingTokens.clear();
    for (const client of this.clients) client.end();
    this.clients.clear();
    await this.ready.catch(() => undefined);
    // Also after a failed listen: that releases the server's handle.
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      // Keep-alive connections would hold close() open until they time out.
      for (const socket of this.sockets) socket.destroy();
    });
    this.runs.clear();
    this.trees.clear();
  }

  /** @internal */
  protected override startRun(start: RunStartInfo): LiveRun {
    const parent = start.parentRunId === undefined ? undefined : this.runs.get(start.parentRunId);
    const run: ViewerRun = {
      id: start.runId,
      parentRunId: start.parentRunId ?? null,
      name: start.name,
      type: start.type,
      inputs: toJsonValue(start.inputs, LIMITS),
      outputs: null,
      error: null,
      tags: start.tags.map(String),
      metadata: toJsonValue({ ...start.metadata }, LIMITS) as Record<string, unknown>,
      startTime: start.startTime,
      endTime: null,
      tokenCount: 0,
      events: [],
      ...(start.extraParams?.invocation_params === undefined ? {} : { params: toJsonValue(start.extraParams.invocation_params, LIMITS) }),
      seq: this.seq++,
    };
    const live: LiveRun = { run, root: parent?.root ?? run.id };
    if (this.closing !== undefined) return live;
    this.runs.set(run.id, live);
    let tree = this.trees.get(live.root);
    if (tree === undefined) {
      tree = new Set();
      this.trees.set(live.root, tree);
    }
    tree.add(run.id);
    this.broadcast('start', run);
    if (tree.size === 1) this.evict();
    return live;
  }

  /** @internal */
  protected override tokenInRun(live: LiveRun): void {
    const { run } = live;
    run.tokenCount++;
    if (this.closing !== undefined || !this.runs.has(run.id)) return;
    const times = (run.tokenTimes ??= []);
    if (times.length >= MAX_TOKEN_TIMES) return;
    const now = Date.now();
    times.push(now);
    let pending = this.pendingTokens.get(run.id);
    if (pending === undefined) {
      pending = [];
      this.pendingTokens.set(run.id, pending);
    }
    pending.push(now);
    this.tokenTimer ??= setTimeout(() => this.flushTokens(), TOKEN_FLUSH_MS).unref();
  }

  /** @internal */
  protected override customEventInRun(live: LiveRun, name: string, data: unknown): void {
    live.run.events = [...live.run.events, { name, data: toJsonValue(data, LIMITS) }];
  }

  /** @internal */
  protected override endRun(live: LiveRun, end: RunEndInfo): void {
    const { run } = live;
    run.endTime = end.endTime;
    run.outputs = end.failed ? null : toJsonValue(end.outputs, LIMITS);
    run.error = end.failed ? toJsonError(end.error, LIMITS) : null;
    const llmOutput = end.llmResult?.llmOutput;
    if (llmOutput !== undefined) run.llmOutput = toJsonValue(llmOutput, LIMITS);
    if (this.closing !== undefined || !this.runs.has(run.id)) return;
    // Its tokens first, so the page has them when it shows the run as ended.
    if (this.pendingTokens.has(run.id)) this.flushTokens();
    this.broadcast('end', {
      id: run.id,
      endTime: run.endTime,
      outputs: run.outputs,
      error: run.error,
      tokenCount: run.tokenCount,
      events: run.events,
      ...(run.llmOutput === undefined ? {} : { llmOutput: run.llmOutput }),
    });
    if (live.root === run.id) this.evict();
  }

  // Drops the oldest finished trees beyond maxRootRuns (and, when every tree still runs, the oldest).
  private evict(): void {
    let excess = this.trees.size - this.maxRootRuns;
    if (excess <= 0) return;
    const dropped: string[] = [];
    const candidates = [...this.trees.keys()];
    const running = (root: string): boolean => this.runs.get(root)?.run.endTime === null;
    const order = [...candidates.filter((root) => !running(root)), ...candidates.filter(running)];
    for (const root of order) {
      if (excess <= 0) break;
      const tree = this.trees.get(root) as Set<string>;
      for (const id of tree) {
        this.runs.delete(id);
        this.pendingTokens.delete(id);
        dropped.push(id);
      }
      this.trees.delete(root);
      excess--;
    }
    if (dropped.length > 0) this.broadcast('drop', { ids: dropped });
  }

  private flushTokens(): void {
    if (this.tokenTimer !== undefined) clearTimeout(this.tokenTimer);
    this.tokenTimer = undefined;
    if (this.pendingTokens.size === 0) return;
    const batch = [...this.pendingTokens].map(([id, times]) => ({ id, times, count: this.runs.get(id)?.run.tokenCount ?? times.length }));
    this.pendingTokens.clear();
    this.broadcast('tokens', batch);
  }

  private broadcast(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const message = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const client of this.clients) {
      if (client.writableLength > MAX_BUFFERED_BYTES) {
        this.clients.delete(client);
        client.destroy();
        continue;
      }
      client.write(message);
    }
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    if (!this.hostAllowed(request.headers.host)) {
      response.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end('callscope LiveViewer: unexpected Host header.\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed.\n');
      return;
    }
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/') {
      this.page ??= renderPage({ mode: 'live', title: 'live', runs: [], problems: [], events: 'events' });
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(this.page);
    } else if (path === '/events') {
      this.subscribe(response);
    } else {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: the viewer is at /.\n');
    }
  }

  private subscribe(response: ServerResponse): void {
    if (this.closing !== undefined) {
      response.writeHead(503).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    this.clients.add(response);
    response.on('close', () => this.clients.delete(response));
    const runs = [...this.runs.values()].map((live) => live.run);
    response.write(`event: snapshot\ndata: ${JSON.stringify({ runs })}\n\n`);
  }

  // A page on 127.0.0.1 must be asked for by that name (or localhost): a web page elsewhere cannot reach
  // it through a DNS name that resolves to 127.0.0.1 (DNS rebinding). A host given explicitly is trusted.
  private hostAllowed(header: string | undefined): boolean {
    if (this.host !== '127.0.0.1' && this.host !== 'localhost' && this.host !== '::1') return true;
    if (header === undefined) return false;
    const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.split(':')[0];
    return name === '127.0.0.1' || name === 'localhost' || name === '[::1]';
  }
}
