/**
 * Streaming events to a UI: a `node:http` route streams a nested pipeline's events (an agent lambda → a
 * research tool → a lambda → a chat model) to the browser as server-sent events, with `pipeEventStream`.
 * Each event says where it sits in the tree (`parent_ids`, root first), so the page can show the model's
 * tokens under the tool that asked for them. When the browser goes away, the run is aborted.
 *
 * Run it with `npx tsx examples/sse-server.ts`: it starts on a free port, requests its own route once,
 * prints what a UI would draw, and exits. Serve it for real with `PORT=3000 npx tsx examples/sse-server.ts`.
 *
 * A browser client (the route answers POST with a JSON body, so it reads the stream with fetch):
 *
 *   const res = await fetch('/events', { method: 'POST', body: JSON.stringify({ city: 'Paris' }) });
 *   const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
 *   let buffer = '';
 *   for (;;) {
 *     const { value, done } = await reader.read();
 *     if (done) break;
 *     buffer += value;
 *     const frames = buffer.split('\n\n');
 *     buffer = frames.pop();
 *     for (const frame of frames) {
 *       if (frame.startsWith('event: end')) return;
 *       const event = JSON.parse(frame.slice(frame.indexOf('data: ') + 6));
 *       if (event.event === 'on_chat_model_stream') answer.textContent += event.data.chunk.kwargs.content;
 *       if (event.event === 'on_tool_start') steps.append(`${event.name}(${JSON.stringify(event.data.input)})`);
 *     }
 *   }
 *
 * (For a GET route, `new EventSource('/events?city=Paris')` with `source.addEventListener('data', ...)` and
 * `source.addEventListener('end', () => source.close())` reads the same frames.)
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { FakeChatModel, RunnableLambda, pipeEventStream, tool } from '../lib';

const model = new FakeChatModel({ responses: ['Paris is sunny today'] });
const answer = RunnableLambda.from(async (question: string) => (await model.invoke(question)).content, { name: 'answer' });
const research = tool(async ({ topic }: { topic: string }) => answer.invoke(`What about ${topic}?`), {
  name: 'research',
  description: 'Researches a topic',
  schema: z.object({ topic: z.string() }),
});
const agent = RunnableLambda.from(async (city: string) => research.invoke({ topic: city }), { name: 'agent' });

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const piece of req) body += String(piece);
  return body;
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST' || req.url !== '/events') {
    res.writeHead(404).end();
    return;
  }
  const { city } = JSON.parse(await readBody(req)) as { city: string };
  // Only what a UI needs: the tool and model runs (filters work as in LangChain).
  const events = agent.streamEvents(city, { version: 'v2' }, { includeTypes: ['tool', 'chat_model'] });
  await pipeEventStream(events, res);
}

/** The example's client: what a browser would do, printed instead of drawn. */
async function requestOnce(port: number): Promise<void> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/events', method: 'POST' }, resolve);
    req.on('error', reject);
    req.end(JSON.stringify({ city: 'Paris' }));
  });
  console.log(`${res.statusCode} ${String(res.headers['content-type'])}`);
  let text = '';
  for await (const piece of res) text += String(piece);
  let tokens = '';
  for (const frame of text.split('\n\n').filter(Boolean)) {
    if (frame === 'event: end') {
      console.log('event: end');
      continue;
    }
    const event = JSON.parse(frame.slice(frame.indexOf('data: ') + 6)) as { event: string; name: string; parent_ids: string[]; data: Record<string, unknown> };
    const depth = '  '.repeat(event.parent_ids.length);
    if (event.event === 'on_chat_model_stream') {
      tokens += String((event.data.chunk as { kwargs: { content: string } }).kwargs.content);
      continue;
    }
    if (tokens !== '') {
      console.log(`${depth}tokens: ${JSON.stringify(tokens)}`);
      tokens = '';
    }
    console.log(`${depth}${event.event} ${event.name} (depth ${event.parent_ids.length})`);
  }
}

async function main(): Promise<void> {
  const server = createServer((req, res) => void route(req, res));
  const port = Number(process.env.PORT ?? 0);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  if (process.env.PORT !== undefined) {
    console.log(`Listening on http://127.0.0.1:${port}/events`);
    return;
  }
  try {
    await requestOnce((server.address() as AddressInfo).port);
  } finally {
    server.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Prints:
// 200 text/event-stream; charset=utf-8
//   on_tool_start research (depth 1)
//       on_chat_model_start FakeChatModel (depth 3)
//       tokens: "Paris is sunny today"
//       on_chat_model_end FakeChatModel (depth 3)
//   on_tool_end research (depth 1)
// event: end
