import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { diag, DiagLogLevel, SpanKind, SpanStatusCode, trace, type DiagLogger } from '@opentelemetry/api';
import { z } from 'zod';
import {
  BaseChatModel,
  ConfigError,
  configure,
  dispatchCustomEvent,
  FakeChatModel,
  RunCollector,
  RunnableLambda,
  tool,
  type AIMessageChunk,
  type CollectedRun,
  type RunnableConfig,
} from '../../lib';
import { OpenTelemetryTracer } from '../../lib/opentelemetry';
import { parentSpanId, useOpenTelemetry } from '../helpers/opentelemetry';

const otel = useOpenTelemetry();

/** agent (lambda) → forecast (tool) → FakeChatModel, the pipeline of the README. */
function pipeline(options: { fail?: boolean } = {}) {
  const model = new FakeChatModel({ responses: ['Sunny, 24 degrees'], streaming: true });
  const forecast = tool(
    async ({ city }) => {
      const answer = (await model.invoke(`Weather in ${city}?`)).content;
      if (options.fail) throw new TypeError(`no forecast for ${city}`);
      return answer;
    },
    { name: 'forecast', description: 'Weather forecast for a city', schema: z.object({ city: z.string() }) },
  );
  return RunnableLambda.from(async (city: string) => forecast.invoke({ city }), { name: 'agent' });
}

/** A chat model that reports what a provider reports at the end of a response. */
class ReportingModel extends BaseChatModel {
  constructor(
    name: string,
    private readonly params: Record<string, unknown>,
    private readonly responseMetadata: Record<string, unknown>,
  ) {
    super({ name });
  }

  override invocationParams(): Record<string, unknown> {
    return this.params;
  }

  override async *_streamChunks(): AsyncGenerator<AIMessageChunk, void, undefined> {
    yield { role: 'ai', content: 'Hello' };
    yield { role: 'ai', content: '', responseMetadata: this.responseMetadata };
  }
}

async function invokeTraced(config: RunnableConfig = {}, options: { fail?: boolean } = {}) {
  const collector = new RunCollector();
  const tracer = new OpenTelemetryTracer({ tracer: otel.tracer });
  const result = await pipeline(options)
    .invoke('Lisbon', { ...config, callbacks: [tracer, collector] })
    .catch((error: unknown) => error);
  return { result, runs: collector.allRuns() };
}

function runOf(runs: CollectedRun[], name: string): CollectedRun {
  const run = runs.find((candidate) => candidate.name === name);
  if (run === undefined) throw new Error(`no run named ${name}`);
  return run;
}

describe('OpenTelemetryTracer', () => {
  describe('spans', () => {
    it('makes one span per run, named after the run, parented as the runs are', async () => {
      const { runs } = await invokeTraced();
      const spans = otel.spans();
      expect(spans.map((span) => span.name).sort()).toEqual(['FakeChatModel', 'agent', 'forecast']);
      const bySpanId = new Map(spans.map((span) => [span.spanContext().spanId, span]));
      for (const span of spans) {
        const run = runs.find((candidate) => candidate.id === span.attributes['callscope.run_id']);
        const parentSpan = parentSpanId(span) === undefined ? undefined : bySpanId.get(parentSpanId(span) as string);
        expect(run?.name).toBe(span.name);
        expect(parentSpan?.attributes['callscope.run_id']).toBe(run?.parentRunId);
      }
      expect(parentSpanId(otel.span('agent'))).toBeUndefined();
      expect(parentSpanId(otel.span('forecast'))).toBe(otel.span('agent').spanContext().spanId);
      expect(parentSpanId(otel.span('FakeChatModel'))).toBe(otel.span('forecast').spanContext().spanId);
      expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(1);
    });

    it("makes each run's span active while its body runs, so spans made inside nest under it", async () => {
      const tracer = new OpenTelemetryTracer({ tracer: otel.tracer });
      const seen: (string | undefined)[] = [];
      const inner = RunnableLambda.from(async (x: number) => {
        await new Promise((resolve) => setImmediate(resolve));
        seen.push(trace.getActiveSpan()?.spanContext().spanId);
        // Other instrumentation inside the run: a span of its own, made the usual way.
        otel.tracer.startActiveSpan('http GET', (span) => span.end());
        return x;
      }, { name: 'inner' });
      const outer = RunnableLambda.from((x: number) => inner.invoke(x), { name: 'outer' });

      await outer.invoke(1, { callbacks: [tracer] });

      expect(seen).toEqual([otel.span('inner').spanContext().spanId]);
      expect(parentSpanId(otel.span('http GET'))).toBe(otel.span('inner').spanContext().spanId);
      expect(trace.getActiveSpan()).toBeUndefined();
    });

    it('ends each span at its run end event, children before their parent', async () => {
      await invokeTraced();
      expect(otel.spans().map((span) => span.name)).toEqual(['FakeChatModel', 'forecast', 'agent']);
      expect(otel.spans().every((span) => span.ended)).toBe(true);
    });

    it('keeps concurrent runs apart: each span under its own parent', async () => {
      const tracer = new OpenTelemetryTracer({ tracer: otel.tracer });
      const agent = pipeline();
      await Promise.all([agent.invoke('Lisbon', { callbacks: [tracer], runName: 'a' }), agent.invoke('Porto', { callbacks: [tracer], runName: 'b' })]);
      const spans = otel.spans();
      expect(spans).toHaveLength(6);
      for (const root of spans.filter((span) => span.name === 'a' || span.name === 'b')) {
        const rootId = root.spanContext().spanId;
        const forecast = spans.find((span) => span.name === 'forecast' && parentSpanId(span) === rootId);
        const model = spans.find((span) => span.name === 'FakeChatModel' && parentSpanId(span) === forecast?.spanContext().spanId);
        expect(model?.spanContext().traceId).toBe(root.spanContext().traceId);
      }
      expect(spans.filter((span) => parentSpanId(span) === undefined)).toHaveLength(2);
    });
  });

  describe('attributes', () => {
    it('names the run, its type and its parent run', async () => {
      const { runs } = await invokeTraced();
      const agent = runOf(runs, 'agent');
      const forecast = runOf(runs, 'forecast');
      const model = runOf(runs, 'FakeChatModel');
      expect(otel.span('agent').attributes).toMatchObject({ 'callscope.run_id': agent.id, 'callscope.run_type': 'chain' });
      expect(otel.span('agent').attributes).not.toHaveProperty('callscope.parent_run_id');
      expect(otel.span('forecast').attributes).toMatchObject({
        'callscope.run_id': forecast.id,
        'callscope.run_type': 'tool',
        'callscope.parent_run_id': agent.id,
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': 'forecast',
      });
      expect(otel.span('FakeChatModel').attributes).toMatchObject({
        'callscope.run_id': model.id,
        'callscope.run_type': 'llm',
        'callscope.parent_run_id': forecast.id,
      });
    });

    it('records tags as a string array and flattens metadata that OpenTelemetry can hold', async () => {
      await invokeTraced({
        tags: ['beta', 'eu'],
        metadata: { user: 'alice', attempt: 2, cached: false, regions: ['eu', 'us'], nested: { a: 1 }, mixed: [1, 'a'], none: null },
      });
      for (const span of otel.spans()) {
        expect(span.attributes).toMatchObject({
          'callscope.tags': ['beta', 'eu'],
          'callscope.metadata.user': 'alice',
          'callscope.metadata.attempt': 2,
          'callscope.metadata.cached': false,
          'callscope.metadata.regions': ['eu', 'us'],
        });
        expect(Object.keys(span.attributes).filter((key) => /nested|mixed|none/.test(key))).toEqual([]);
      }
    });

    it('leaves tags out when a run has none', async () => {
      await invokeTraced();
      expect(otel.span('agent').attributes).not.toHaveProperty('callscope.tags');
    });

    it('gives model runs the GenAI attributes: operation, requested model, CLIENT kind', async () => {
      await invokeTraced();
      const model = otel.span('FakeChatModel');
      expect(model.kind).toBe(SpanKind.CLIENT);
      expect(model.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'fake-chat-model' });
      expect(otel.span('agent').kind).toBe(SpanKind.INTERNAL);
      expect(otel.span('forecast').kind).toBe(SpanKind.INTERNAL);
    });

    it('reads usage, stop reason, response model and id in the shape ChatAnthropic reports them', async () => {
      // The responseMetadata of ChatAnthropic's last chunk (lib/anthropic/chat-anthropic.ts).
      const model = new ReportingModel(
        'ChatAnthropic',
        { model: 'claude-sonnet-4-5', max_tokens: 256, streaming: false },
        {
          id: 'msg_01',
          model: 'claude-sonnet-4-5-20250929',
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: { input_tokens: 12, output_tokens: 3, cache_read_input_tokens: 0 },
          request_id: 'req_01',
        },
      );
      await model.invoke('Hi', { callbacks: [new OpenTelemetryTracer({ tracer: otel.tracer })] });
      expect(otel.span('ChatAnthropic').attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.system': 'anthropic',
        'gen_ai.provider.name': 'anthropic',
        'gen_ai.request.model': 'claude-sonnet-4-5',
        'gen_ai.request.max_tokens': 256,
        'gen_ai.usage.input_tokens': 12,
        'gen_ai.usage.output_tokens': 3,
        'gen_ai.response.finish_reasons': ['end_turn'],
        'gen_ai.response.model': 'claude-sonnet-4-5-20250929',
        'gen_ai.response.id': 'msg_01',
      });
    });

    it('reads LangChain-style token usage and finish reasons', async () => {
      const model = new ReportingModel(
        'ChatOpenAI',
        { model_name: 'gpt-4o', temperature: 0.2, stop: ['\n\n'] },
        { tokenUsage: { promptTokens: 7, completionTokens: 5, totalTokens: 12 }, finish_reason: 'stop' },
      );
      await model.invoke('Hi', { callbacks: [new OpenTelemetryTracer({ tracer: otel.tracer })] });
      expect(otel.span('ChatOpenAI').attributes).toMatchObject({
        'gen_ai.system': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.request.temperature': 0.2,
        'gen_ai.request.stop_sequences': ['\n\n'],
        'gen_ai.usage.input_tokens': 7,
        'gen_ai.usage.output_tokens': 5,
        'gen_ai.response.finish_reasons': ['stop'],
      });
    });

    it('leaves out what a model does not report', async () => {
      await invokeTraced();
      const keys = Object.keys(otel.span('FakeChatModel').attributes);
      expect(keys.filter((key) => key.startsWith('gen_ai.usage') || key.startsWith('gen_ai.response') || key === 'gen_ai.system')).toEqual([]);
    });

    it('turns custom events into span events', async () => {
      const step = RunnableLambda.from(async (x: number) => {
        await dispatchCustomEvent('progress', { done: 1, of: 3, detail: { skipped: true } });
        return x;
      }, { name: 'step' });
      await step.invoke(1, { callbacks: [new OpenTelemetryTracer({ tracer: otel.tracer })] });
      expect(otel.span('step').events.map((event) => [event.name, event.attributes])).toEqual([['progress', { done: 1, of: 3 }]]);
    });
  });

  describe('errors', () => {
    it('records the exception and sets the status to ERROR with the message, on the failing run and the runs it fails', async () => {
      const { result } = await invokeTraced({}, { fail: true });
      expect(result).toBeInstanceOf(TypeError);
      for (const name of ['forecast', 'agent']) {
        const span = otel.span(name);
        expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'no forecast for Lisbon' });
        expect(span.attributes['error.type']).toBe('TypeError');
        expect(span.events).toHaveLength(1);
        expect(span.events[0]?.name).toBe('exception');
        expect(span.events[0]?.attributes).toMatchObject({ 'exception.type': 'TypeError', 'exception.message': 'no forecast for Lisbon' });
      }
      expect(otel.span('FakeChatModel').status.code).toBe(SpanStatusCode.UNSET);
    });

    it('records a thrown non-error as `_OTHER`', async () => {
      const failing = RunnableLambda.from((): string => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- what is being tested
        throw 'plain string';
      }, { name: 'failing' });
      await expect(failing.invoke(undefined, { callbacks: [new OpenTelemetryTracer({ tracer: otel.tracer })] })).rejects.toBe('plain string');
      expect(otel.span('failing').status).toEqual({ code: SpanStatusCode.ERROR, message: 'plain string' });
      expect(otel.span('failing').attributes['error.type']).toBe('_OTHER');
    });

    it('never throws into a run: its own failures go to diag, and the run goes on', async () => {
      const broken = {
        startSpan: () => {
          throw new Error('exporter down');
        },
      };
      const logger: DiagLogger = { error: jest.fn(), warn: jest.fn(), info: jest.fn(), debug: jest.fn(), verbose: jest.fn() };
      diag.setLogger(logger, DiagLogLevel.ERROR);
      const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
      try {
        const result = await pipeline().invoke('Lisbon', { callbacks: [new OpenTelemetryTracer({ tracer: broken })] });
        expect(result).toBe('Sunny, 24 degrees');
        expect(logger.error).toHaveBeenCalledWith('callscope OpenTelemetryTracer failed to record a run:', expect.objectContaining({ message: 'exporter down' }));
        expect(warn).not.toHaveBeenCalled();
      } finally {
        warn.mockRestore();
        diag.disable();
      }
    });
  });

  describe('parenting under OpenTelemetry spans', () => {
    it('makes a root run started inside an active span (an HTTP server span, say) its child', async () => {
      await otel.tracer.startActiveSpan('GET /weather', async (server) => {
        await pipeline().invoke('Lisbon', { callbacks: [new OpenTelemetryTracer({ tracer: otel.tracer })] });
        server.end();
      });
      const server = otel.span('GET /weather');
      expect(parentSpanId(otel.span('agent'))).toBe(server.spanContext().spanId);
      expect(otel.span('agent').spanContext().traceId).toBe(server.spanContext().traceId);
      expect(parentSpanId(otel.span('forecast'))).toBe(otel.span('agent').spanContext().spanId);
    });

    it("uses the caller's active span even with background delivery configured, since the tracer is always blocking", async () => {
      configure({ callbacks: 'background' });
      try {
        const tracer = new OpenTelemetryTracer({ tracer: otel.tracer });
        expect(tracer.awaitHandlers).toBe(true);
        await otel.tracer.startActiveSpan('job', async (job) => {
          await pipeline().invoke('Lisbon', { callbacks: [tracer] });
          job.end();
        });
        expect(parentSpanId(otel.span('agent'))).toBe(otel.span('job').spanContext().spanId);
      } finally {
        configure({ callbacks: 'blocking' });
      }
    });

    it('starts a trace of its own when no span is active', async () => {
      await invokeTraced();
      expect(otel.span('agent').parentSpanContext).toBeUndefined();
    });
  });

  describe('construction', () => {
    it('uses the globally registered tracer provider by default, even one registered after the tracer was made', async () => {
      const tracer = new OpenTelemetryTracer();
      trace.setGlobalTracerProvider(otel.provider);
      try {
        await pipeline().invoke('Lisbon', { callbacks: [tracer] });
        expect(otel.spans().map((span) => span.name)).toEqual(['FakeChatModel', 'forecast', 'agent']);
        expect(otel.span('agent').instrumentationScope.name).toBe('callscope');
      } finally {
        trace.disable();
      }
    });

    it.each([
      [{ tracer: 42 }, 'tracer', 'Expected `tracer` to be an OpenTelemetry Tracer'],
      [{ tracer: {} }, 'tracer', 'Expected `tracer` to be an OpenTelemetry Tracer'],
      [{ exporter: {} }, 'exporter', 'Unknown option `exporter`'],
      ['fast', 'options', 'Expected `options` to be an object, got `"fast"` (string)'],
    ])('rejects %p with a ConfigError naming `%s`', (options, field, message) => {
      const attempt = () => new OpenTelemetryTracer(options as never);
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(message);
      try {
        attempt();
      } catch (error) {
        expect(error).toMatchObject({ name: 'ConfigError', code: 'INVALID_ARGUMENT', field });
      }
    });

    it('is not loaded, nor is @opentelemetry/api, by importing callscope', () => {
      const script = `
        const { RunnableLambda } = require('./lib');
        const loaded = Object.keys(require.cache).some((file) => file.includes('@opentelemetry'));
        RunnableLambda.from((x) => x).invoke(1).then(() => console.log(JSON.stringify({ loaded })));
      `;
      const child = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], { cwd: path.resolve(__dirname, '../..'), encoding: 'utf8' });
      expect(child.stderr).toBe('');
      expect(JSON.parse(child.stdout)).toEqual({ loaded: false });
    });
  });
});
