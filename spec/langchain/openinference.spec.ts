import { dirname, join } from 'node:path';
import { OITracer } from '@arizeai/openinference-core';
import type { BaseTracer } from '@langchain/core/tracers/base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { useOpenTelemetry } from '../helpers/opentelemetry';
import { normalise, runCallscope, runLangChain, SCENARIOS, TOKENS, type Scenario } from './pipelines';

// The package's LangChainTracer is what its instrumentation adds to LangChain's callback managers; its
// exports map only lists the instrumentation, so the tracer is loaded from its file.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { LangChainTracer } = require(join(dirname(require.resolve('@arizeai/openinference-instrumentation-langchain')), 'tracer.js')) as {
  LangChainTracer: new (tracer: OITracer) => BaseTracer;
};

interface ComparedSpan {
  name: string;
  attributes: Record<string, unknown>;
  status: number;
  children: ComparedSpan[];
}

// What the spec compares of a span's attributes: the OpenInference kind, input and output (JSON parsed and
// normalised), and every llm.input_messages / llm.output_messages attribute. The model name, invocation
// parameters and metadata name the fake model of each side and are left out.
function comparedAttributes(span: ReadableSpan): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(span.attributes)) {
    if (key === 'openinference.span.kind' || key.startsWith('llm.input_messages') || key.startsWith('llm.output_messages')) out[key] = value;
    if (key === 'input.value' || key === 'output.value') out[key] = normalise(parse(value));
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

describe("OpenInference's LangChainTracer (@arizeai/openinference-instrumentation-langchain)", () => {
  const otel = useOpenTelemetry();

  async function record(run: (tracer: BaseTracer) => Promise<unknown>): Promise<ReadableSpan[]> {
    otel.exporter.reset();
    await run(new LangChainTracer(new OITracer({ tracer: otel.tracer })));
    return otel.spans();
  }

  describe.each(SCENARIOS)('%s', (scenario: Scenario) => {
    it('exports the same spans for callscope as for the same pipeline built with @langchain/core', async () => {
      const fromCallscope = await record((tracer) => runCallscope(scenario, tracer));
      const fromLangChain = await record((tracer) => runLangChain(scenario, tracer));

      expect(trees(fromCallscope)).toEqual(trees(fromLangChain));
    });
  });

  it("fills the model span's input and output messages", async () => {
    const spans = await record((tracer) => runCallscope('success', tracer));
    const model = spans.find((span) => span.name === 'FakeChatModel');

    expect(model?.attributes).toMatchObject({
      'openinference.span.kind': 'LLM',
      'llm.input_messages.0.message.role': 'user',
      'llm.input_messages.0.message.content': 'What about Paris?',
      'llm.output_messages.0.message.role': 'assistant',
      'llm.output_messages.0.message.content': TOKENS.join(''),
    });
  });
});
