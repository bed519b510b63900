/**
 * OpenTelemetry: `OpenTelemetryTracer` turns every run into a span, parented as the runs are, and a root run
 * started inside an active span (here a stand-in for an HTTP server span) becomes its child. Model runs carry
 * the GenAI semantic conventions' attributes; a failed run records its exception and sets the status.
 *
 * The provider exports to OpenTelemetry's `ConsoleSpanExporter`, which prints each span as it ends, ids,
 * timings and all, and to memory, from which the example then prints the finished spans as a tree, with the
 * attributes that do not change from one run to the next. `CONSOLE_SPANS=0` leaves the console exporter out
 * (the examples spec does, since its ids and timings change every run). In an application, export to a
 * collector instead (README, "OpenTelemetry").
 *
 * Run it with `npx tsx examples/opentelemetry.ts`.
 */
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  ConsoleSpanExporter,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import { FakeChatModel, RunnableLambda, tool } from '../lib';
import { OpenTelemetryTracer } from '../lib/opentelemetry';

// What every instrumented application sets up once: a context manager, so the active span follows async
// code, and a tracer provider with its exporters.
const memory = new InMemorySpanExporter();
const processors: SpanProcessor[] = [new SimpleSpanProcessor(memory)];
if (process.env.CONSOLE_SPANS !== '0') processors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
const provider = new BasicTracerProvider({ spanProcessors: processors });
trace.setGlobalTracerProvider(provider);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const model = new FakeChatModel({ responses: ['Sunny, 24 degrees'] });
const weather = tool(async ({ city }) => (await model.invoke(`Weather in ${city}?`)).content, {
  name: 'weather',
  description: 'Weather forecast for a city',
  schema: z.object({ city: z.string() }),
});
const book = RunnableLambda.from((_plan: string): string => {
  throw new Error('no seats left');
}, { name: 'book' });
const trip = RunnableLambda.from(async (city: string) => book.invoke(`Pack for: ${await weather.invoke({ city })}`), { name: 'trip' });

/** Prints spans as a tree: name, kind, status, then the attributes that are the same on every run. */
function printTree(spans: readonly ReadableSpan[]): void {
  const children = (parentId: string | undefined) => spans.filter((span) => span.parentSpanContext?.spanId === parentId);
  const visit = (span: ReadableSpan, prefix: string, connector: string, childPrefix: string): void => {
    const status = span.status.code === SpanStatusCode.ERROR ? `  ERROR: ${span.status.message}` : '';
    console.log(`${prefix}${connector}${span.name}  ${SpanKind[span.kind]}${status}`);
    const lines = Object.entries(span.attributes)
      .filter(([key]) => key !== 'callscope.run_id' && key !== 'callscope.parent_run_id')
      .map(([key, value]) => `${key}=${JSON.stringify(value)}`);
    if (span.events.length > 0) lines.push(`events: ${span.events.map((event) => event.name).join(', ')}`);
    const below = children(span.spanContext().spanId);
    for (const line of lines) console.log(`${prefix}${childPrefix}${below.length > 0 ? '│ ' : '  '} ${line}`);
    below.forEach((child, index) => {
      const last = index === below.length - 1;
      visit(child, prefix + childPrefix, last ? '└─ ' : '├─ ', last ? '   ' : '│  ');
    });
  };
  for (const root of children(undefined)) visit(root, '', '', '');
}

async function main(): Promise<void> {
  const server = trace.getTracer('example-http-server');
  await server.startActiveSpan('GET /trips/:city', { kind: SpanKind.SERVER }, async (request) => {
    try {
      await trip.invoke('Lisbon', { callbacks: [new OpenTelemetryTracer()], tags: ['example'], metadata: { user: 'ana' } });
    } catch (error) {
      console.log(`The trip failed: ${(error as Error).message}`);
    } finally {
      request.end();
    }
  });
  await provider.forceFlush();
  printTree(memory.getFinishedSpans());
  await provider.shutdown();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// ConsoleSpanExporter first prints each span as it ends (ids and timings change on every run, so those
// lines are left out below); then the summary:
// Prints:
// The trip failed: no seats left
// GET /trips/:city  SERVER
// └─ trip  INTERNAL  ERROR: no seats left
//    │  callscope.run_type="chain"
//    │  callscope.tags=["example"]
//    │  callscope.metadata.user="ana"
//    │  error.type="Error"
//    │  events: exception
//    ├─ weather  INTERNAL
//    │  │  callscope.run_type="tool"
//    │  │  callscope.tags=["example"]
//    │  │  callscope.metadata.user="ana"
//    │  │  gen_ai.operation.name="execute_tool"
//    │  │  gen_ai.tool.name="weather"
//    │  └─ FakeChatModel  CLIENT
//    │        callscope.run_type="llm"
//    │        callscope.tags=["example"]
//    │        callscope.metadata.user="ana"
//    │        gen_ai.operation.name="chat"
//    │        gen_ai.request.model="fake-chat-model"
//    └─ book  INTERNAL  ERROR: no seats left
//          callscope.run_type="chain"
//          callscope.tags=["example"]
//          callscope.metadata.user="ana"
//          error.type="Error"
//          events: exception
