import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { bindEmitter, getCurrentConfig, RunCollector, RunnableLambda, type CallbackManager } from '../../lib';

describe('bindEmitter()', () => {
  it('calls each listener with the `this` the emitter calls it with', async () => {
    const seen: unknown[] = [];
    const emitter = new EventEmitter();
    await RunnableLambda.from(() => {
      bindEmitter(emitter);
      emitter.on('ping', function (this: unknown) {
        seen.push(this);
      });
      emitter.once('ping', function (this: unknown) {
        seen.push(this);
      });
    }).invoke(undefined);
    emitter.emit('ping');
    expect(seen).toEqual([emitter, emitter]);
  });

  it("keeps a real HTTP server working when a request is bound, and its listeners in the request's run", async () => {
    const collector = new RunCollector();
    const failures: unknown[] = [];
    const parse = RunnableLambda.from((text: string) => text.toUpperCase(), { name: 'parse' });
    const handle = RunnableLambda.from(
      (req: http.IncomingMessage) =>
        new Promise<{ body: string; sameRun: boolean; thisWasRequest: boolean }>((resolve, reject) => {
          const runId = (getCurrentConfig()?.callbacks as CallbackManager).parentRunId;
          bindEmitter(req);
          let body = '';
          let thisWasRequest = true;
          req.on('data', function (this: unknown, chunk: Buffer) {
            thisWasRequest &&= this === req;
            body += chunk.toString();
          });
          req.on('error', reject);
          req.on('end', () => {
            const sameRun = (getCurrentConfig()?.callbacks as CallbackManager | undefined)?.parentRunId === runId;
            parse.invoke(body).then((parsed) => resolve({ body: parsed, sameRun, thisWasRequest }), reject);
          });
        }),
      { name: 'handle' },
    );
    const server = http.createServer((req, res) => {
      handle.invoke(req, { callbacks: [collector] }).then(
        (result) => res.end(JSON.stringify(result)),
        (error: unknown) => {
          failures.push(error);
          res.statusCode = 500;
          res.end();
        },
      );
    });
    server.on('clientError', (error) => failures.push(error));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      // Two requests on one keep-alive connection: Node's own listeners on the first request run when the
      // second one arrives.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const post = (text: string) =>
        new Promise<string>((resolve, reject) => {
          const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent }, (response) => {
            let data = '';
            response.on('data', (chunk: Buffer) => (data += chunk.toString()));
            response.on('end', () => resolve(data));
          });
          request.on('error', reject);
          request.end(text);
        });
      expect(JSON.parse(await post('hello'))).toEqual({ body: 'HELLO', sameRun: true, thisWasRequest: true });
      expect(JSON.parse(await post('again'))).toEqual({ body: 'AGAIN', sameRun: true, thisWasRequest: true });
      agent.destroy();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect(failures).toEqual([]);
    expect(collector.runs.map((run) => [run.name, run.children.map((child) => child.name)])).toEqual([
      ['handle', ['parse']],
      ['handle', ['parse']],
    ]);
  });

  it("keeps Node's own listeners on a bound request working when the response ends before the request body", async () => {
    const failures: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      failures.push(error);
    };
    process.on('uncaughtException', onUncaught);
    let bodyEnded!: () => void;
    const ended = new Promise<void>((resolve) => (bodyEnded = resolve));
    const server = http.createServer((req, res) => {
      void RunnableLambda.from(() => {
        bindEmitter(req);
        req.on('data', () => undefined);
        req.on('end', () => bodyEnded());
        // Answer before the body has arrived: Node then adds its own 'end' listener (clearIncoming), which
        // relies on being called with the request as `this`.
        res.end('early');
      }, { name: 'handle' }).invoke(undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-length': '10' } });
      const answer = new Promise<string>((resolve, reject) => {
        request.on('response', (response) => {
          let data = '';
          response.on('data', (chunk: Buffer) => (data += chunk.toString()));
          response.on('end', () => resolve(data));
        });
        request.on('error', reject);
      });
      request.write('12345');
      expect(await answer).toBe('early');
      request.end('67890');
      await ended;
      // Let Node's own 'end' listeners, registered after ours, run.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('uncaughtException', onUncaught);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect(failures).toEqual([]);
  });
});
