/**
 * The server of `npm run soak` (bench/soak.ts), in a process of its own so its memory is measured alone:
 * an Express app with the request scope whose `GET /chat` streams a tool → lambda → streaming model pipeline
 * as server-sent events, with background delivery to a `JsonlTracer` (one file for the whole run) and an
 * `OpenTelemetryTracer` (the SDK's in-memory exporter behind a BatchSpanProcessor, counted and emptied
 * every second so that it does not hold spans). Every request's runs carry its `x-request-id` as metadata.
 *
 * It talks to the driver over IPC: it sends `{ port }` once listening, answers `{ type: 'rss' }` with its RSS
 * (after a forced collection when started with `--expose-gc`, as the driver does),
 * and on `{ type: 'drain' }` waits for every background event, closes the JSONL file and answers with its
 * counts.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import express from 'express';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { awaitAllCallbacks, configure, FakeChatModel, JsonlTracer, RunnableLambda, tool } from '../../lib';
import { runScope } from '../../lib/express';
import { OpenTelemetryTracer } from '../../lib/opentelemetry';

/** Messages from the driver. */
export type SoakCommand = { readonly type: 'rss' } | { readonly type: 'drain' };

/** Messages to the driver. */
export type SoakReport =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'rss'; readonly rss: number }
  | { readonly type: 'drained'; readonly requests: number; readonly spans: number };

function send(report: SoakReport): void {
  process.send?.(report);
}

async function main(): Promise<void> {
  const jsonlPath = process.argv[2];
  if (jsonlPath === undefined) throw new Error('usage: soak-server.ts <runs.jsonl>');
  configure({ callbacks: 'background' });
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 200 })] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  let spans = 0;
  const countSpans = (): void => {
    spans += exporter.getFinishedSpans().length;
    exporter.reset();
  };
  const spanTimer = setInterval(countSpans, 1000);

  const jsonl = new JsonlTracer(jsonlPath);
  const otel = new OpenTelemetryTracer();
  const summarize = RunnableLambda.from(
    async (id: string) => {
      const model = new FakeChatModel({ responses: [`Answer for ${id} is ready now`], streaming: true, tokenDelayMs: 2 });
      return (await model.invoke(`Question ${id}`)).content;
    },
    { name: 'summarize' },
  );
  const lookup = tool(async ({ id }) => summarize.invoke(id), { name: 'lookup', description: 'Looks up an answer', schema: z.object({ id: z.string() }) });

  let requests = 0;
  const app = express();
  app.use(
    runScope({
      handlers: () => [jsonl, otel],
      metadata: (req) => {
        requests++;
        return { requestId: req.get('x-request-id') ?? 'missing' };
      },
      flush: 'after-response',
    }),
  );
  app.get('/chat', async (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const writer = { awaitHandlers: true, handleLLMNewToken: (token: string) => void res.write(`data: ${JSON.stringify(token)}\n\n`) };
    try {
      await lookup.invoke({ id: req.get('x-request-id') ?? 'missing' }, { callbacks: [writer] });
      res.end('event: done\ndata: {}\n\n');
    } catch {
      // The client went away: its run was aborted; nobody is left to answer.
      res.end();
    }
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  send({ type: 'listening', port: (server.address() as AddressInfo).port });

  process.on('message', (command: SoakCommand) => {
    if (command.type === 'rss') {
      // After a full collection, so a sample shows what is retained rather than garbage not yet collected.
      (globalThis as { gc?: () => void }).gc?.();
      send({ type: 'rss', rss: process.memoryUsage().rss });
    }
    else {
      void (async () => {
        server.close();
        server.closeAllConnections();
        await awaitAllCallbacks();
        await jsonl.close();
        await provider.forceFlush();
        clearInterval(spanTimer);
        countSpans();
        await provider.shutdown();
        send({ type: 'drained', requests, spans });
        process.disconnect();
      })();
    }
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
