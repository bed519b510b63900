import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { z } from 'zod';
import { MAX_TOKEN_TIMES } from '../../lib/tracers/jsonl-tracer';
import {
  ConfigError,
  FakeChatModel,
  JsonlTracer,
  RunCollector,
  RunnableLambda,
  RunnableSequence,
  awaitAllCallbacks,
  configure,
  dispatchCustomEvent,
  getConfiguration,
  tool,
  type JsonlRunRecord,
} from '../../lib';

/** A PassThrough that gives back the JSON lines written to it, parsed. */
function sink(): PassThrough & { records(): JsonlRunRecord[] } {
  const stream = new PassThrough() as PassThrough & { records(): JsonlRunRecord[] };
  stream.setEncoding('utf8');
  let text = '';
  // Read as written (flowing mode): a paused stream stops taking writes past its buffer, 16 KB.
  stream.on('data', (chunk: string) => (text += chunk));
  stream.records = () => {
    expect(text.endsWith('\n')).toBe(true);
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as JsonlRunRecord);
  };
  return stream;
}

/** A trip planner: a sequence whose first step calls a tool that calls a model, and whose second step fails. */
function tripPlanner(): RunnableSequence<string, string> {
  const model = new FakeChatModel({ responses: ['Sunny, 24 degrees'], streaming: true });
  const weather = tool(async ({ city }) => (await model.invoke(`Weather in ${city}?`)).content, {
    name: 'weather',
    description: 'Weather forecast for a city',
    schema: z.object({ city: z.string() }),
  });
  const plan = RunnableLambda.from(async (city: string) => `Pack for: ${await weather.invoke({ city })}`, { name: 'plan' });
  const check = RunnableLambda.from((_plan: string): string => {
    throw new TypeError('no suitcase found');
  }, { name: 'check' });
  return RunnableSequence.from<string, string>([plan, check], { name: 'trip' });
}

const identity = RunnableLambda.from((value: unknown) => value, { name: 'identity' });

describe('JsonlTracer', () => {
  let warn: jest.SpyInstance;
  let onHandlerError: jest.Mock;
  const savedOnHandlerError = getConfiguration().onHandlerError;

  beforeEach(() => {
    warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    // A tracer that threw would be reported here: every test also proves it never throws into the run.
    onHandlerError = jest.fn();
    configure({ onHandlerError });
  });

  afterEach(() => {
    warn.mockRestore();
    configure({ onHandlerError: savedOnHandlerError });
    expect(onHandlerError).not.toHaveBeenCalled();
  });

  describe('writing runs', () => {
    it('writes one JSON line per finished run, every run and not only roots, children before their parent', async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      await expect(tripPlanner().invoke('Lisbon', { callbacks: [tracer] })).rejects.toThrow('no suitcase found');
      await tracer.close();
      const records = stream.records();
      expect(records.map((record) => `${record.type} ${record.name}`)).toEqual([
        'llm FakeChatModel',
        'tool weather',
        'chain plan',
        'chain check',
        'chain trip',
      ]);
    });

    it('marks every line with the version of the format, `v: 1`, as its first field', async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      await expect(tripPlanner().invoke('Lisbon', { callbacks: [tracer] })).rejects.toThrow('no suitcase found');
      await tracer.close();
      const records = stream.records();
      expect(records).toHaveLength(5);
      expect(records.map((record) => [Object.keys(record)[0], record.v])).toEqual(records.map(() => ['v', 1]));
    });

    it('links each line to its parent with the same ids a RunCollector sees', async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      const collector = new RunCollector();
      await expect(tripPlanner().invoke('Lisbon', { callbacks: [tracer, collector] })).rejects.toThrow();
      await tracer.close();
      const expected = collector.allRuns().map((run) => ({ id: run.id, parentRunId: run.parentRunId ?? null, name: run.name }));
      const written = stream.records().map((record) => ({ id: record.id, parentRunId: record.parentRunId, name: record.name }));
      expect(written).toEqual(expect.arrayContaining(expected));
      expect(written).toHaveLength(expected.length);
    });

    it('writes inputs, outputs, tags, metadata, times, token count and custom events', async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      const model = new FakeChatModel({ responses: ['Why not'], streaming: true });
      const ask = RunnableLambda.from(async (question: string) => {
        await dispatchCustomEvent('progress', { step: 1 });
        return (await model.invoke(question)).content;
      }, { name: 'ask' });
      const before = Date.now();
      await ask.invoke('Why?', { callbacks: [tracer], tags: ['demo'], metadata: { user: 'ada' } });
      await tracer.close();
      const [llm, chain] = stream.records();
      expect(chain).toEqual({
        v: 1,
        id: expect.any(String),
        parentRunId: null,
        name: 'ask',
        type: 'chain',
        inputs: { input: 'Why?' },
        outputs: { output: 'Why not' },
        error: null,
        tags: ['demo'],
        metadata: { user: 'ada' },
        startTime: expect.any(Number),
        endTime: expect.any(Number),
        tokenCount: 0,
        events: [{ name: 'progress', data: { step: 1 } }],
      });
      expect(llm).toMatchObject({
        parentRunId: chain?.id,
        type: 'llm',
        inputs: { messages: [[{ role: 'human', content: 'Why?' }]] },
        outputs: { role: 'ai', content: 'Why not' },
        tags: ['demo'],
        tokenCount: 2,
        tokenTimes: [expect.any(Number), expect.any(Number)],
      });
      expect(chain).not.toHaveProperty('tokenTimes');
      expect(chain?.startTime).toBeGreaterThanOrEqual(before);
      expect(chain?.endTime).toBeGreaterThanOrEqual(chain?.startTime ?? Infinity);
    });

    it('writes when each token arrived, in ms after the run started, in order', async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      const model = new FakeChatModel({ responses: ['one two three'], streaming: true, tokenDelayMs: 5 });
      await model.invoke('Count', { callbacks: [tracer] });
      await tracer.close();
      const [record] = stream.records();
      const times = record?.tokenTimes ?? [];
      expect(times).toHaveLength(record?.tokenCount ?? -1);
      expect(times.length).toBeGreaterThan(1);
      expect([...times].sort((a, b) => a - b)).toEqual(times);
      // Each token waited tokenDelayMs before it came (timers may fire late, never early by more than 1 ms).
      expect(times[0]).toBeGreaterThanOrEqual(4);
      expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(4 * (times.length - 1));
      expect(times.at(-1)).toBeLessThanOrEqual((record?.endTime ?? 0) - (record?.startTime ?? 0) + 1);
    });

    it(`records the first ${MAX_TOKEN_TIMES.toLocaleString('en')} token times of a longer stream and counts them all`, async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      const words = Array.from({ length: MAX_TOKEN_TIMES + 5 }, (_, index) => `w${index}`).join(' ');
      await new FakeChatModel({ responses: [words], streaming: true }).invoke('Go', { callbacks: [tracer] });
      await tracer.close();
      const [record] = stream.records();
      expect(record?.tokenTimes).toHaveLength(MAX_TOKEN_TIMES);
      expect(record?.tokenCount).toBeGreaterThan(MAX_TOKEN_TIMES);
    });

    it("writes every run in the 'background' callbacks mode once awaitAllCallbacks() resolves", async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      configure({ callbacks: 'background' });
      try {
        await expect(tripPlanner().invoke('Lisbon', { callbacks: [tracer] })).rejects.toThrow();
        await awaitAllCallbacks();
      } finally {
        configure({ callbacks: 'blocking' });
      }
      await tracer.close();
      expect(stream.records().map((record) => record.name)).toEqual(['FakeChatModel', 'weather', 'plan', 'check', 'trip']);
    });

    it('writes what a failed run threw as { name, message, stack }', async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      await expect(tripPlanner().invoke('Lisbon', { callbacks: [tracer] })).rejects.toThrow();
      await tracer.close();
      const check = stream.records().find((record) => record.name === 'check');
      expect(check).toMatchObject({ outputs: null, error: { name: 'TypeError', message: 'no suitcase found' } });
      expect(check?.error?.stack).toContain('TypeError: no suitcase found');
    });
  });

  describe('any input', () => {
    it('writes cycles as "[Circular]" and BigInts as strings', async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      const order: Record<string, unknown> = { id: 12345678901234567890n, items: [{ sku: 'a' }] };
      order.self = order;
      (order.items as Record<string, unknown>[])[0]!.order = order;
      await identity.invoke(order, { callbacks: [tracer] });
      await tracer.close();
      const [record] = stream.records();
      expect(record?.inputs).toEqual({ id: '12345678901234567890', items: [{ sku: 'a', order: '[Circular]' }], self: '[Circular]' });
    });

    it('writes an object reached twice without a cycle in full both times', async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      const shared = { city: 'Lisbon' };
      await identity.invoke({ from: shared, to: shared }, { callbacks: [tracer] });
      await tracer.close();
      expect(stream.records()[0]?.inputs).toEqual({ from: { city: 'Lisbon' }, to: { city: 'Lisbon' } });
    });

    it('writes errors, functions, symbols, dates, maps, sets, non-finite numbers and throwing getters', async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      const cause = new RangeError('too far');
      const input = {
        error: Object.assign(new Error('lost', { cause }), { code: 'E_LOST' }),
        fn: function locate(): void {},
        symbol: Symbol('marker'),
        date: new Date('2024-05-01T00:00:00.000Z'),
        map: new Map([['a', 1]]),
        set: new Set([1, 2]),
        nan: NaN,
        bytes: Buffer.from('hello'),
        get broken(): never {
          throw new Error('no access');
        },
      };
      await identity.invoke(input, { callbacks: [tracer] });
      await tracer.close();
      const written = stream.records()[0]?.inputs as Record<string, unknown>;
      expect(written).toMatchObject({
        error: { name: 'Error', message: 'lost', code: 'E_LOST', cause: { name: 'RangeError', message: 'too far' } },
        fn: '[Function locate]',
        symbol: 'Symbol(marker)',
        date: '2024-05-01T00:00:00.000Z',
        map: [['a', 1]],
        set: [1, 2],
        nan: 'NaN',
        bytes: '[Buffer(5 bytes)]',
        broken: '[Unserializable: no access]',
      });
      expect((written.error as { stack: string }).stack).toContain('Error: lost');
    });

    it('writes a thrown value that is not an Error under `value`', async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      const fail = RunnableLambda.from((): never => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- what the tracer must cope with
        throw { reason: 'quota', retryAfter: 30n };
      }, { name: 'fail' });
      await expect(fail.invoke(1, { callbacks: [tracer] })).rejects.toEqual({ reason: 'quota', retryAfter: 30n });
      await tracer.close();
      expect(stream.records()[0]?.error).toEqual({
        name: 'NonError',
        message: '{"reason":"quota","retryAfter":"30"}',
        value: { reason: 'quota', retryAfter: '30' },
      });
    });
  });

  describe('writing to a file', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'callscope-jsonl-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('appends to the file at the path, which close() flushes and closes', async () => {
      const file = join(dir, 'runs.jsonl');
      writeFileSync(file, '{"earlier":true}\n');
      const tracer = new JsonlTracer(file);
      await identity.invoke('a', { callbacks: [tracer] });
      await identity.invoke('b', { callbacks: [tracer] });
      await tracer.close();
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.map((line) => (line.inputs as { input?: unknown } | undefined)?.input ?? line)).toEqual([{ earlier: true }, 'a', 'b']);
    });

    it('reports a file it cannot open once, with console.warn, and the runs go on', async () => {
      const tracer = new JsonlTracer(join(dir, 'missing', 'runs.jsonl'));
      await expect(identity.invoke(1, { callbacks: [tracer] })).resolves.toBe(1);
      await tracer.close();
      await expect(identity.invoke(2, { callbacks: [tracer] })).resolves.toBe(2);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[0]).toMatch(/^callscope JsonlTracer: could not write to .*missing.*runs\.jsonl: ENOENT/);
    });
  });

  describe('never throwing into a run', () => {
    it('reports a stream that errors once, and every run still returns its result', async () => {
      const failing = new Writable({
        write(_chunk, _encoding, callback) {
          callback(new Error('disk full'));
        },
      });
      const tracer = new JsonlTracer(failing);
      await expect(tripPlanner().invoke('Lisbon', { callbacks: [tracer] })).rejects.toThrow('no suitcase found');
      await expect(identity.invoke('still here', { callbacks: [tracer] })).resolves.toBe('still here');
      await tracer.close();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn).toHaveBeenCalledWith('callscope JsonlTracer: could not write to its stream: disk full. Later runs are not written.');
    });

    it('reports a stream whose write() throws once, and the run returns its result', async () => {
      const stream = new PassThrough();
      stream.write = () => {
        throw new Error('not writable');
      };
      const tracer = new JsonlTracer(stream);
      await expect(identity.invoke(1, { callbacks: [tracer] })).resolves.toBe(1);
      await expect(identity.invoke(2, { callbacks: [tracer] })).resolves.toBe(2);
      await tracer.close();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[0]).toContain('not writable');
    });

    it('drops runs that end after close(), with one warning, and leaves a stream it was given open', async () => {
      const stream = sink();
      const tracer = new JsonlTracer(stream);
      await tracer.close();
      await identity.invoke(1, { callbacks: [tracer] });
      await identity.invoke(2, { callbacks: [tracer] });
      expect(stream.writableEnded).toBe(false);
      expect(stream.listenerCount('error')).toBe(0);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[0]).toMatch(/run `identity` .* ended after close\(\)/);
    });
  });

  it('rejects what is neither a path nor a writable stream with a ConfigError', () => {
    const construct = (): JsonlTracer => new JsonlTracer(42 as unknown as string);
    expect(construct).toThrow(ConfigError);
    expect(construct).toThrow('Expected JsonlTracer() to receive a file path or a writable stream, got `42` (number).');
  });
});
