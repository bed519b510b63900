/**
 * A request scope on an Express server: each request is one root run with its own handlers, and the route
 * streams a nested pipeline's tokens to the client as server-sent events. The pipeline passes no config
 * around: the request's run is active in context, so every run below it lands in the request's tree.
 *
 *   npx tsx examples/http-server.ts
 *
 * It starts on a free port, makes one request to itself, prints what happened and exits.
 */
import express from 'express';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { ConsoleTracer, FakeChatModel, RunnableLambda, tool } from '../lib';
import { runScope } from '../lib/express';

const model = new FakeChatModel({ responses: ['Sunny, 24 degrees'], streaming: true });
const forecast = tool(async ({ city }) => (await model.invoke(`Weather in ${city}?`)).content, {
  name: 'forecast',
  description: 'Weather forecast for a city',
  schema: z.object({ city: z.string() }),
});
const agent = RunnableLambda.from(async (city: string) => `${city}: ${await forecast.invoke({ city })}`, { name: 'agent' });

const app = express();
// Per request: a tracer that prints the request's run tree (timings left out so the output is stable).
app.use(runScope({ handlers: () => [new ConsoleTracer({ colors: false, timings: false })], tags: ['example'] }));

app.get('/chat', async (req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  // A handler for this call only: every token the model streams, deep below, goes to this client.
  const sse = { awaitHandlers: true, handleLLMNewToken: (token: string) => res.write(`data: ${JSON.stringify(token)}\n\n`) };
  const city = typeof req.query.city === 'string' ? req.query.city : 'Lisbon';
  const answer = await agent.invoke(city, { callbacks: [sse] });
  res.end(`event: done\ndata: ${JSON.stringify(answer)}\n\n`);
});

async function main(): Promise<void> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const response = await fetch(`http://127.0.0.1:${port}/chat?city=Lisbon`);
    // The tree above is printed before the response's last byte: the request's events are flushed first.
    for (const event of (await response.text()).trim().split('\n\n')) console.log(`client got  ${event.replace('\n', ' ')}`);
  } finally {
    server.close();
    server.closeAllConnections();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Prints:
// chain GET /chat  in: {"method":"GET","url":"/chat?city=Lisbon"}  out: {"status":200}
// └─ chain agent  in: "Lisbon"  out: "Lisbon: Sunny, 24 degrees"
//    └─ tool forecast  in: {"city":"Lisbon"}  out: "Sunny, 24 degrees"
//       └─ llm FakeChatModel  3 tokens  in: "Weather in Lisbon?"  out: "Sunny, 24 degrees"
// client got  data: "Sunny,"
// client got  data: " 24"
// client got  data: " degrees"
// client got  event: done data: "Lisbon: Sunny, 24 degrees"
