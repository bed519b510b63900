import { PassThrough } from 'node:stream';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import {
  awaitAllCallbacks,
  configure,
  ConsoleTracer,
  flushCallbacks,
  JsonlTracer,
  RunCollector,
  RunnableLambda,
  type CallbackHandler,
  type JsonlRunRecord,
} from '../../lib';
import { extractRunContext, injectRunContext, OpenTelemetryTracer } from '../../lib/opentelemetry';
import { parentSpanId, useOpenTelemetry } from '../helpers/opentelemetry';

const otel = useOpenTelemetry();

const CALLER = '01a20c52-477b-708f-923a-cd495cc84423';

let ids = 0;
function runId(): string {
  return `01a20c52-eeee-7000-8000-${(++ids).toString(16).padStart(12, '0')}`;
}

/** A background handler that records each event only after a macrotask, so nothing is delivered early. */
function slowRecorder(): CallbackHandler & { readonly events: string[] } {
  const events: string[] = [];
  const record = (event: string) => async (..._args: unknown[]) => {
    await nextMacrotask();
    events.push(event);
  };
  return { name: 'slowRecorder', awaitHandlers: false, events, handleChainStart: record('start'), handleChainEnd: record('end') };
}

/** A handler held at its first event until `release()` is called. */
function heldHandler(): CallbackHandler & { release(): void; readonly events: string[] } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const events: string[] = [];
  return {
    name: 'held',
    awaitHandlers: false,
    events,
    release,
    async handleChainStart() {
      await gate;
      events.push('start');
    },
    handleChainEnd() {
      events.push('end');
    },
  };
}

const echo = RunnableLambda.from((x: string) => x, { name: 'request' });

describe('flushCallbacks() for a run started with an extractRunContext() config', () => {
  beforeAll(() => configure({ callbacks: 'background' }));
  afterAll(() => configure({ callbacks: 'blocking' }));
  afterEach(() => awaitAllCallbacks());

  it("waits for that run's background events: a local root under a remote caller is a flush root of its own", async () => {
    const recorder = slowRecorder();
    const id = runId();
    await echo.invoke('x', { ...extractRunContext({ baggage: `callscope.run_id=${CALLER}` }, { handlers: [recorder] }), runId: id });
    await flushCallbacks(id);
    expect(recorder.events).toEqual(['start', 'end']);
  });

  it('never makes two requests from the same caller share a flush key: one held request does not hold the other', async () => {
    const held = heldHandler();
    const quick = slowRecorder();
    const headers = { baggage: `callscope.run_id=${CALLER}` };
    const first = runId();
    const second = runId();
    await echo.invoke('a', { ...extractRunContext(headers, { handlers: [held] }), runId: first });
    await echo.invoke('b', { ...extractRunContext(headers, { handlers: [quick] }), runId: second });
    try {
      await flushCallbacks(second);
      expect(quick.events).toEqual(['start', 'end']);
      expect(held.events).toEqual([]);
    } finally {
      held.release();
    }
    await flushCallbacks(first);
    expect(held.events).toEqual(['start', 'end']);
  });

  it.each([
    ['the nil UUID', '00000000-0000-0000-0000-000000000000'],
    ['the max UUID', 'ffffffff-ffff-ffff-ffff-ffffffffffff'],
    ['a UUID in upper-case max form', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'],
    ['a value that is no UUID', 'not-a-run'],
  ])('ignores %s as a caller run id, like any malformed header: the runs are plain roots', async (_case, caller) => {
    const config = extractRunContext({ baggage: `callscope.run_id=${caller}` });
    expect(config.callbacks.parentRunId).toBeUndefined();
    const recorder = slowRecorder();
    const id = runId();
    await echo.invoke('x', { callbacks: config.callbacks.withHandlers([recorder]), runId: id });
    await flushCallbacks(id);
    expect(recorder.events).toEqual(['start', 'end']);
  });
});

/**
 * Request A is in progress, with a long-lived tracer; its outgoing request carried A's live run id in
 * baggage, and a hostile (or looping) caller sends that id back in request B. B must not appear inside A.
 */
async function graftAttempt(tracer: CallbackHandler): Promise<{ requestA: string; requestB: string }> {
  let releaseA!: () => void;
  const aMayEnd = new Promise<void>((resolve) => (releaseA = resolve));
  let headersOfA!: Record<string, string>;
  let started!: () => void;
  const aStarted = new Promise<void>((resolve) => (started = resolve));
  const requestA = runId();
  const requestB = runId();
  const a = RunnableLambda.from(async () => {
    headersOfA = injectRunContext({});
    started();
    await aMayEnd;
    return 'a';
  }, { name: 'requestA' });
  const b = RunnableLambda.from(() => 'b', { name: 'requestB' });
  const pendingA = a.invoke(undefined, { callbacks: [tracer], runId: requestA });
  await aStarted;
  await b.invoke(undefined, { ...extractRunContext(headersOfA, { handlers: [tracer] }), runId: requestB });
  releaseA();
  await pendingA;
  return { requestA, requestB };
}

describe('a run whose parent came from extractRunContext()', () => {
  it('is a root in a long-lived RunCollector that records its remote parent, never a child of the local run with that id', async () => {
    const collector = new RunCollector();
    const { requestA, requestB } = await graftAttempt(collector);
    const a = collector.runs.find((run) => run.id === requestA);
    const b = collector.runs.find((run) => run.id === requestB);
    expect(a?.children).toEqual([]);
    expect(b).toMatchObject({ name: 'requestB', parentRunId: requestA, parentIsRemote: true });
    expect(collector.allRuns().map((run) => run.name).sort()).toEqual(['requestA', 'requestB']);
  });

  it('is printed by a long-lived ConsoleTracer as a tree of its own', async () => {
    const stream = new PassThrough();
    let output = '';
    stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await graftAttempt(new ConsoleTracer({ stream, colors: false, timings: false }));
    expect(output.split('\n').filter((line) => line !== '')).toEqual(['chain requestB  in: null  out: "b"', 'chain requestA  in: null  out: "a"']);
  });

  it('is written by JsonlTracer with `parentRunId: null` and the caller in `remoteParentRunId`', async () => {
    const stream = new PassThrough();
    let output = '';
    stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const tracer = new JsonlTracer(stream);
    const { requestA, requestB } = await graftAttempt(tracer);
    await tracer.close();
    const records = output.trim().split('\n').map((line) => JSON.parse(line) as JsonlRunRecord);
    expect(records.find((record) => record.id === requestB)).toMatchObject({ parentRunId: null, remoteParentRunId: requestA });
    expect(records.find((record) => record.id === requestA)).toMatchObject({ parentRunId: null });
    expect(records.find((record) => record.id === requestA)).not.toHaveProperty('remoteParentRunId');
  });

  it("gets a span that is not a child of the local run's span, under the caller's span when one was sent", async () => {
    const tracer = new OpenTelemetryTracer({ tracer: otel.tracer });
    await graftAttempt(tracer);
    const spanA = otel.span('requestA');
    const spanB = otel.span('requestB');
    // The caller's span came with the request (A's, here, since A sent the headers): B joins that trace as
    // a remote child, never through the local run registry.
    expect(spanB.parentSpanContext?.isRemote).toBe(true);
    expect(parentSpanId(spanA)).toBeUndefined();
  });

  it('gets a root span of its own when the caller sent its run id but no traceparent', async () => {
    const tracer = new OpenTelemetryTracer({ tracer: otel.tracer });
    let releaseA!: () => void;
    const aMayEnd = new Promise<void>((resolve) => (releaseA = resolve));
    let idOfA!: string;
    let started!: () => void;
    const aStarted = new Promise<void>((resolve) => (started = resolve));
    const a = RunnableLambda.from(async (_: unknown, config) => {
      idOfA = (config.callbacks as { parentRunId: string }).parentRunId;
      started();
      await aMayEnd;
    }, { name: 'requestA' });
    const pendingA = a.invoke(undefined, { callbacks: [tracer] });
    await aStarted;
    await RunnableLambda.from(() => 'b', { name: 'requestB' }).invoke(undefined, extractRunContext({ baggage: `callscope.run_id=${idOfA}` }, { handlers: [tracer] }));
    releaseA();
    await pendingA;
    expect(parentSpanId(otel.span('requestB'))).toBeUndefined();
    expect(otel.span('requestB').attributes['callscope.parent_run_id']).toBe(idOfA);
  });
});
