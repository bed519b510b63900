import { context, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** The real OpenTelemetry SDK, exporting to memory, for one spec file. */
export interface OpenTelemetryHarness {
  readonly exporter: InMemorySpanExporter;
  readonly provider: BasicTracerProvider;
  /** A tracer of the provider, to hand to `OpenTelemetryTracer` and to start spans around runs. */
  readonly tracer: Tracer;
  /** The finished spans, in the order they ended. */
  spans(): ReadableSpan[];
  /** The finished span with this name; throws when there is not exactly one. */
  span(name: string): ReadableSpan;
}

/**
 * Registers an AsyncLocalStorage context manager for the spec file (so `context.active()` follows async
 * code, as in an instrumented application) and a provider whose spans are kept in memory. Spans are cleared
 * after each test; everything is unregistered after the file.
 */
export function useOpenTelemetry(): OpenTelemetryHarness {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager();

  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
  });
  afterEach(() => {
    exporter.reset();
  });
  afterAll(async () => {
    context.disable();
    await provider.shutdown();
  });

  return {
    exporter,
    provider,
    tracer: provider.getTracer('callscope-spec'),
    spans: () => exporter.getFinishedSpans(),
    span(name: string): ReadableSpan {
      const found = exporter.getFinishedSpans().filter((span) => span.name === name);
      if (found.length !== 1) throw new Error(`expected one span named ${name}, found ${found.length}`);
      return found[0] as ReadableSpan;
    },
  };
}

/** The id of a span's parent span, or `undefined` for a root span. */
export function parentSpanId(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}
