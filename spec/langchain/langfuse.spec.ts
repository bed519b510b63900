import { CallbackHandler } from '@langfuse/langchain';
import { setLangfuseTracerProvider } from '@langfuse/tracing';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { useOpenTelemetry } from '../helpers/opentelemetry';
import { normalise, runCallscope, runLangChain, SCENARIOS, TOKENS, type Scenario } from './pipelines';

interface ComparedSpan {
  name: string;
  attributes: Record<string, unknown>;
  status: number;
  children: ComparedSpan[];
}

// What the spec compares of an observation: its type (span, tool, generation), level and status message,
// input and output (JSON parsed and normalised). The model name, its parameters and the metadata name the
// fake model of each side and are left out.
function comparedAttributes(span: ReadableSpan): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(span.attributes)) {
    if (key === 'langfuse.observation.type' || key === 'langfuse.observation.level') out[key] = value;
    if (key === 'langfuse.observation.input' || key === 'langfuse.observation.output') out[key] = normalise(parse(value));
    if (key === 'langfuse.observation.status_message') out[key] = typeof value === 'string' && value !== '' ? 'an error' : value;
  }
  return out;
}

function parse(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function trees(spans: ReadableSpan[]): ComparedSpan[] {
  const ids = new Set(spans.map((span) => span.spanContext().spanId));
  const build = (span: ReadableSpan): ComparedSpan => ({
    name: span.name,
    attributes: comparedAttributes(span),
    status: span.status.code,
    children: spans
      .filter((child) => child.parentSpanContext?.spanId === span.spanContext().spanId)
      .sort(byStart)
      .map(build),
  });
  return spans
    .filter((span) => span.parentSpanContext === undefined || !ids.has(span.parentSpanContext.spanId))
    .sort(byStart)
    .map(build);
}

function byStart(a: ReadableSpan, b: ReadableSpan): number {
  return a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1];
}

describe("Langfuse's CallbackHandler (@langfuse/langchain 5, spans read with an in-memory exporter)", () => {
  const otel = useOpenTelemetry();

  beforeAll(() => {
    setLangfuseTracerProvider(otel.provider);
  });

  afterAll(() => {
    setLangfuseTracerProvider(null);
  });

  async function record(run: (handler: CallbackHandler) => Promise<unknown>): Promise<ReadableSpan[]> {
    otel.exporter.reset();
    await run(new CallbackHandler());
    return otel.spans();
  }

  describe.each(SCENARIOS)('%s', (scenario: Scenario) => {
    it('records the same observations for callscope as for the same pipeline built with @langchain/core', async () => {
      const fromCallscope = await record((tracer) => runCallscope(scenario, tracer));
      const fromLangChain = await record((tracer) => runLangChain(scenario, tracer));

      expect(trees(fromCallscope)).toEqual(trees(fromLangChain));
    });
  });

  it("records the chat model's generation with its messages and model name", async () => {
    const spans = await record((handler) => runCallscope('success', handler));
    const model = spans.find((span) => span.name === 'FakeChatModel');

    expect(model?.attributes).toMatchObject({ 'langfuse.observation.type': 'generation', 'langfuse.observation.model.name': 'fake-chat-model' });
    expect(parse(model?.attributes['langfuse.observation.input'])).toEqual([{ role: 'user', content: 'What about Paris?' }]);
    expect(parse(model?.attributes['langfuse.observation.output'])).toEqual({ role: 'assistant', content: TOKENS.join('') });
  });
});
