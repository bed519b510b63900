import { context, diag, DiagLogLevel, ROOT_CONTEXT, trace, TraceFlags, type DiagLogger } from '@opentelemetry/api';
import { z } from 'zod';
import {
  CallbackManager,
  ConfigError,
  FakeChatModel,
  getCurrentConfig,
  RunCollector,
  RunnableLambda,
  tool,
  type RunnableConfig,
} from '../../lib';
import { extractRunContext, injectRunContext, OpenTelemetryTracer } from '../../lib/opentelemetry';
import { parentSpanId, useOpenTelemetry } from '../helpers/opentelemetry';

const otel = useOpenTelemetry();

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const RUN_ID = '01a20c52-477b-708f-923a-cd495cc84423';
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

// extractRunContext remembers each caller's span by run id: tests that must not see an earlier one use their own.
let runIds = 0;
function freshRunId(): string {
  return `01a20c52-ffff-7000-8000-${(++runIds).toString(16).padStart(12, '0')}`;
}

/** Runs `fn` inside a traced lambda run named `caller` and returns what it returned. */
async function insideRun<T>(fn: (config: RunnableConfig) => T, config: RunnableConfig = {}): Promise<T> {
  const caller = RunnableLambda.from((_: unknown, runConfig: RunnableConfig) => fn(runConfig), { name: 'caller' });
  return caller.invoke(undefined, { ...config, callbacks: [new OpenTelemetryTracer({ tracer: otel.tracer })] });
}

/** A local pipeline (lambda → model) started with `config`; returns its runs. */
async function runLocally(config: RunnableConfig) {
  const collector = new RunCollector();
  const model = new FakeChatModel({ responses: ['ok'] });
  const handle = RunnableLambda.from(async (x: string) => (await model.invoke(x)).content, { name: 'handle' });
  const callbacks = config.callbacks instanceof CallbackManager ? config.callbacks.withHandlers([collector]) : [collector];
  await handle.invoke('hi', { ...config, callbacks });
  return collector.allRuns();
}

function captureDiag(): { logger: DiagLogger; restore(): void } {
  const logger: DiagLogger = { error: jest.fn(), warn: jest.fn(), info: jest.fn(), debug: jest.fn(), verbose: jest.fn() };
  diag.setLogger(logger, DiagLogLevel.WARN);
  return { logger, restore: () => diag.disable() };
}

describe('injectRunContext()', () => {
  it("writes the current run's span as traceparent and its run id as baggage", async () => {
    const { headers, runId } = await insideRun((config) => ({
      headers: injectRunContext({}),
      runId: (config.callbacks as CallbackManager).parentRunId,
    }));
    const caller = otel.span('caller').spanContext();
    expect(headers).toEqual({
      traceparent: `00-${caller.traceId}-${caller.spanId}-01`,
      baggage: `callscope.run_id=${runId}`,
    });
  });

  it('writes the active OpenTelemetry span when the run has no span (no OpenTelemetryTracer)', async () => {
    const collector = new RunCollector();
    const headers = await otel.tracer.startActiveSpan('outer', async (outer) => {
      const result = await RunnableLambda.from(() => injectRunContext({}), { name: 'plain' }).invoke(undefined, { callbacks: [collector] });
      outer.end();
      return result;
    });
    const outer = otel.span('outer').spanContext();
    expect(headers.traceparent).toBe(`00-${outer.traceId}-${outer.spanId}-01`);
    expect(headers.baggage).toBe(`callscope.run_id=${collector.runs[0]?.id}`);
  });

  it('names no run for a run nobody observes (no handler anywhere): there is none to attach to', async () => {
    const headers = await otel.tracer.startActiveSpan('outer', async (outer) => {
      const result = await RunnableLambda.from(() => injectRunContext({}), { name: 'plain' }).invoke(undefined);
      outer.end();
      return result;
    });
    const outer = otel.span('outer').spanContext();
    expect(headers).toEqual({ traceparent: `00-${outer.traceId}-${outer.spanId}-01` });
  });

  it('writes nothing outside any run and span', () => {
    expect(injectRunContext({ accept: 'application/json' })).toEqual({ accept: 'application/json' });
  });

  it('writes the flags of an unsampled span as 00', () => {
    const unsampled = trace.wrapSpanContext({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.NONE });
    const headers = context.with(trace.setSpan(ROOT_CONTEXT, unsampled), () => injectRunContext({}));
    expect(headers).toEqual({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-00` });
  });

  it('sends tags and the allowed metadata keys only when asked, percent-encoded', async () => {
    const config = { tags: ['beta', 'a,b;c'], metadata: { user: 'ana maría', attempt: 2, secret: 'token', nested: { a: 1 } } };
    const plain = await insideRun(() => injectRunContext({}), config);
    const allowed = await insideRun(() => injectRunContext({}, { tags: true, metadataKeys: ['user', 'attempt', 'nested', 'missing'] }), config);
    expect(plain.baggage).not.toMatch(/tags|metadata|token/);
    const members = (allowed.baggage as string).split(',');
    expect(members.slice(1)).toEqual([
      `callscope.tags=${encodeURIComponent('["beta","a,b;c"]')}`,
      'callscope.metadata.user=ana%20mar%C3%ADa',
      'callscope.metadata.attempt=2',
    ]);
  });

  it('uses the config given instead of the current run', async () => {
    const runId = await insideRun((config) => (config.callbacks as CallbackManager).parentRunId);
    const headers = injectRunContext({}, { config: { callbacks: new CallbackManager([], { parentRunId: runId }) } });
    expect(headers).toEqual({ baggage: `callscope.run_id=${runId}` });
  });

  it('keeps baggage already in the carrier, replacing only its own keys', async () => {
    const headers = await insideRun(() => injectRunContext({ Baggage: 'tenant=acme,callscope.run_id=stale' }));
    expect(Object.keys(headers)).toEqual(['Baggage', 'traceparent']);
    expect(headers.Baggage).toMatch(/^tenant=acme,callscope\.run_id=[0-9a-f-]{36}$/);
  });

  it('writes into a fetch Headers object', async () => {
    const headers = await insideRun(() => injectRunContext(new Headers({ accept: 'text/plain' })));
    expect(headers.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(headers.get('baggage')).toMatch(/^callscope\.run_id=/);
    expect(headers.get('accept')).toBe('text/plain');
  });

  it('leaves out entries that would take baggage past 8,192 characters, never the run id', async () => {
    const headers = await insideRun(() => injectRunContext({}, { metadataKeys: ['big', 'small'] }), { metadata: { big: 'x'.repeat(9000), small: 'y' } });
    expect((headers.baggage as string).split(',').map((member) => member.split('=')[0])).toEqual(['callscope.run_id', 'callscope.metadata.small']);
  });

  it('no longer writes the span of a run that has ended', async () => {
    let ended: RunnableConfig | undefined;
    await insideRun(() => {
      ended = getCurrentConfig();
    });
    expect(injectRunContext({}, { config: ended })).toEqual({ baggage: expect.stringMatching(/^callscope\.run_id=/) });
  });

  it.each([
    [null, '`null` (null)'],
    ['traceparent', '`"traceparent"` (string)'],
    [['a'], '`["a"]` (array)'],
  ])('rejects the carrier %p with a ConfigError', (carrier, shown) => {
    expect(() => injectRunContext(carrier as never)).toThrow(ConfigError);
    expect(() => injectRunContext(carrier as never)).toThrow(`Expected injectRunContext() to receive a headers object`);
    expect(() => injectRunContext(carrier as never)).toThrow(shown);
  });

  it.each([
    [{ metadataKeys: 'user' }, 'Expected `metadataKeys` to be an array of strings'],
    [{ tags: 'yes' }, 'Expected `tags` to be a boolean'],
    [{ config: 5 }, 'Expected `config` to be a RunnableConfig object'],
    [{ baggage: true }, 'Unknown option `baggage` in injectRunContext() options'],
  ])('rejects the options %p with a ConfigError', (options, message) => {
    expect(() => injectRunContext({}, options as never)).toThrow(ConfigError);
    expect(() => injectRunContext({}, options as never)).toThrow(message);
  });
});

describe('extractRunContext()', () => {
  it("returns a config whose runs are children of the caller's run, with the handlers given", () => {
    const collector = new RunCollector();
    const config = extractRunContext({ traceparent: TRACEPARENT, baggage: `callscope.run_id=${RUN_ID}` }, { handlers: [collector] });
    expect(config.callbacks).toBeInstanceOf(CallbackManager);
    expect(config.callbacks.parentRunId).toBe(RUN_ID);
    expect(config.callbacks.handlers).toEqual([collector]);
    expect(config).not.toHaveProperty('tags');
    expect(config).not.toHaveProperty('metadata');
  });

  it("parents the first local span under the caller's span, and the rest under it", async () => {
    const config = extractRunContext({ traceparent: TRACEPARENT, baggage: `callscope.run_id=${RUN_ID}` }, { handlers: [new OpenTelemetryTracer({ tracer: otel.tracer })] });
    const runs = await runLocally(config);
    const handle = otel.span('handle');
    expect(handle.spanContext().traceId).toBe(TRACE_ID);
    expect(handle.parentSpanContext).toMatchObject({ traceId: TRACE_ID, spanId: SPAN_ID, isRemote: true });
    expect(parentSpanId(otel.span('FakeChatModel'))).toBe(handle.spanContext().spanId);
    expect(runs.map((run) => [run.name, run.parentRunId])).toEqual([
      ['handle', RUN_ID],
      ['FakeChatModel', runs[0]?.id],
    ]);
  });

  it('keeps the first local span under the active span when it belongs to the same trace (the HTTP server span)', async () => {
    const remote = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    const config = extractRunContext({ traceparent: TRACEPARENT, baggage: `callscope.run_id=${RUN_ID}` }, { handlers: [new OpenTelemetryTracer({ tracer: otel.tracer })] });
    await context.with(remote, () =>
      otel.tracer.startActiveSpan('POST /run', async (server) => {
        await runLocally(config);
        server.end();
      }),
    );
    expect(parentSpanId(otel.span('POST /run'))).toBe(SPAN_ID);
    expect(parentSpanId(otel.span('handle'))).toBe(otel.span('POST /run').spanContext().spanId);
  });

  it('returns tags and metadata from baggage, decoded, and the metadata keys asked for only', () => {
    const baggage = [
      `callscope.run_id=${RUN_ID}`,
      `callscope.tags=${encodeURIComponent('["beta","a,b;c"]')}`,
      'callscope.metadata.user=ana%20mar%C3%ADa;prop=1',
      'callscope.metadata.role=admin',
      'tenant=acme',
    ].join(' , ');
    expect(extractRunContext({ baggage })).toMatchObject({ tags: ['beta', 'a,b;c'], metadata: { user: 'ana maría', role: 'admin' } });
    const filtered = extractRunContext({ baggage }, { metadataKeys: ['user'], tags: false });
    expect(filtered).not.toHaveProperty('tags');
    expect(filtered.metadata).toEqual({ user: 'ana maría' });
  });

  it('round-trips what injectRunContext writes', async () => {
    const headers = await insideRun(() => injectRunContext({}, { tags: true, metadataKeys: ['user'] }), { tags: ['x'], metadata: { user: 'a=b,c' } });
    const config = extractRunContext(headers);
    expect(config).toMatchObject({ tags: ['x'], metadata: { user: 'a=b,c' } });
    expect(config.callbacks.parentRunId).toBe(otel.span('caller').attributes['callscope.run_id']);
  });

  it('reads a fetch Headers object, Node header arrays and mixed-case names', () => {
    const fromHeaders = extractRunContext(new Headers({ Baggage: `callscope.run_id=${RUN_ID}` }));
    const fromArrays = extractRunContext({ baggage: ['tenant=acme', `callscope.run_id=${RUN_ID}`] });
    const fromMixedCase = extractRunContext({ BAGGAGE: `callscope.run_id=${RUN_ID}` });
    expect([fromHeaders, fromArrays, fromMixedCase].map((config) => config.callbacks.parentRunId)).toEqual([RUN_ID, RUN_ID, RUN_ID]);
  });

  describe('malformed headers', () => {
    let captured: ReturnType<typeof captureDiag>;
    beforeEach(() => {
      captured = captureDiag();
    });
    afterEach(() => captured.restore());

    it.each([
      ['an unknown version ff', `ff-${TRACE_ID}-${SPAN_ID}-01`],
      ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN_ID}-01`],
      ['an all-zero span id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
      ['upper-case hex', `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`],
      ['a short trace id', `00-${TRACE_ID.slice(1)}-${SPAN_ID}-01`],
      ['version 00 with an extra field', `${TRACEPARENT}-extra`],
      ['garbage', 'not a traceparent'],
      ['two values', [TRACEPARENT, TRACEPARENT]],
    ])('ignores a traceparent with %s: the runs keep their parent run but start a trace of their own', async (_case, traceparent) => {
      const runId = freshRunId();
      const config = extractRunContext({ traceparent, baggage: `callscope.run_id=${runId}` }, { handlers: [new OpenTelemetryTracer({ tracer: otel.tracer })] });
      const runs = await runLocally(config);
      expect(runs[0]?.parentRunId).toBe(runId);
      expect(otel.span('handle').parentSpanContext).toBeUndefined();
      expect(otel.span('handle').spanContext().traceId).not.toBe(TRACE_ID);
      expect(captured.logger.warn).toHaveBeenCalledWith(expect.stringContaining('ignored an invalid `traceparent` header'));
    });

    it('accepts a later traceparent version with extra fields, as the spec asks', async () => {
      const config = extractRunContext(
        { traceparent: `01-${TRACE_ID}-${SPAN_ID}-01-future`, baggage: `callscope.run_id=${freshRunId()}` },
        { handlers: [new OpenTelemetryTracer({ tracer: otel.tracer })] },
      );
      await runLocally(config);
      expect(parentSpanId(otel.span('handle'))).toBe(SPAN_ID);
    });

    it('ignores a run id that is not a UUID: the runs are root runs', () => {
      const config = extractRunContext({ traceparent: TRACEPARENT, baggage: 'callscope.run_id=42' });
      expect(config.callbacks.parentRunId).toBeUndefined();
      expect(captured.logger.warn).toHaveBeenCalledWith(expect.stringContaining('not a UUID'));
    });

    it('skips entries that are not valid percent-encoding or not JSON tags, and keeps the rest', () => {
      const config = extractRunContext({ baggage: `callscope.metadata.bad=%E0%A4%A,callscope.tags=oops,callscope.run_id=${RUN_ID},callscope.metadata.ok=1,=novalue,justakey` });
      expect(config.callbacks.parentRunId).toBe(RUN_ID);
      expect(config.metadata).toEqual({ ok: '1' });
      expect(config).not.toHaveProperty('tags');
      expect(captured.logger.warn).toHaveBeenCalledTimes(2);
    });

    it('says when a traceparent comes without a callscope run id to attach it to', () => {
      const config = extractRunContext({ traceparent: TRACEPARENT });
      expect(config.callbacks.parentRunId).toBeUndefined();
      expect(captured.logger.warn).toHaveBeenCalledWith(expect.stringContaining("no `callscope.run_id` in baggage"));
    });
  });

  it('remembers the 10,000 most recent callers, forgetting the oldest first', async () => {
    const first = '01a20c52-0000-7000-8000-000000000000';
    extractRunContext({ traceparent: TRACEPARENT, baggage: `callscope.run_id=${first}` });
    for (let i = 1; i <= 10_000; i++) {
      const runId = `01a20c52-0000-7000-8000-${i.toString(16).padStart(12, '0')}`;
      extractRunContext({ traceparent: `00-${TRACE_ID}-${i.toString(16).padStart(16, '0')}-01`, baggage: `callscope.run_id=${runId}` });
    }
    const tracer = new OpenTelemetryTracer({ tracer: otel.tracer });
    await runLocally({ callbacks: new CallbackManager([tracer], { parentRunId: first }) });
    expect(otel.span('handle').parentSpanContext).toBeUndefined();
    otel.exporter.reset();
    await runLocally({ callbacks: new CallbackManager([tracer], { parentRunId: '01a20c52-0000-7000-8000-000000000001' }) });
    expect(parentSpanId(otel.span('handle'))).toBe('0000000000000001');
  });

  it.each([
    [undefined, '`undefined` (undefined)'],
    ['traceparent: 00-...', '`"traceparent: 00-..."` (string)'],
    [42, '`42` (number)'],
  ])('rejects the carrier %p with a ConfigError', (carrier, shown) => {
    const attempt = () => extractRunContext(carrier as never);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(`Expected extractRunContext() to receive a headers object (such as \`req.headers\`, a fetch \`Headers\` or a plain object), got ${shown}.`);
    try {
      attempt();
    } catch (error) {
      expect(error).toMatchObject({ name: 'ConfigError', code: 'INVALID_ARGUMENT', field: 'carrier' });
    }
  });

  it.each([
    [{ handlers: {} }, 'Expected `handlers` to be an array of handlers'],
    [{ handlers: [42] }, 'Expected `handlers[0]` to be a handler object'],
    [{ metadataKeys: [1] }, 'Expected `metadataKeys` to be an array of strings'],
    [{ parentRunId: RUN_ID }, 'Unknown option `parentRunId` in extractRunContext() options'],
  ])('rejects the options %p with a ConfigError', (options, message) => {
    expect(() => extractRunContext({}, options as never)).toThrow(ConfigError);
    expect(() => extractRunContext({}, options as never)).toThrow(message);
  });
});

describe('injectRunContext() inside a tool', () => {
  it("names the tool's run and span, so the far side attaches to the tool call", async () => {
    const call = tool(async () => injectRunContext({}), { name: 'call', description: 'Calls a service', schema: z.object({}) });
    const collector = new RunCollector();
    const headers = await call.invoke({}, { callbacks: [new OpenTelemetryTracer({ tracer: otel.tracer }), collector] });
    const span = otel.span('call').spanContext();
    expect(headers).toEqual({ traceparent: `00-${span.traceId}-${span.spanId}-01`, baggage: `callscope.run_id=${collector.runs[0]?.id}` });
  });
});
