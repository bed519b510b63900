import { PassThrough } from 'node:stream';
import { z } from 'zod';
import {
  ConfigError,
  configure,
  ConsoleTracer,
  JsonlTracer,
  RunCollector,
  RunnableLambda,
  tool,
  type HandlerErrorReport,
  type JsonlRunRecord,
} from '../../lib';
import { extractRunContext } from '../../lib/opentelemetry';

/** Values an adversarial caller can put in inputs, metadata and headers: tracers and runs must survive them. */

function capture(): { stream: PassThrough; text(): string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

async function jsonlOf(run: (tracer: JsonlTracer) => Promise<unknown>): Promise<JsonlRunRecord[]> {
  const out = capture();
  const tracer = new JsonlTracer(out.stream);
  await run(tracer);
  await tracer.close();
  return out
    .text()
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as JsonlRunRecord);
}

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({ secret: 1 }, {});
  revoke();
  return proxy;
}

const identity = RunnableLambda.from((x: unknown) => (typeof x === 'object' ? 'done' : x), { name: 'identity' });

describe('hostile values', () => {
  const reports: HandlerErrorReport[] = [];
  beforeAll(() => configure({ onHandlerError: (report) => reports.push(report) }));
  afterAll(() => configure({ onHandlerError: undefined }));
  beforeEach(() => (reports.length = 0));

  describe('`__proto__` own keys', () => {
    const hostile = () => JSON.parse('{"__proto__": {"isAdmin": true}, "name": "x"}') as Record<string, unknown>;

    it('are written by JsonlTracer as data, in inputs and metadata', async () => {
      const [record] = await jsonlOf((tracer) => identity.invoke(hostile(), { callbacks: [tracer], metadata: hostile() }));
      const line = JSON.stringify(record);
      expect(line).toContain('"inputs":{"__proto__":{"isAdmin":true},"name":"x"}');
      expect(line).toContain('"metadata":{"__proto__":{"isAdmin":true},"name":"x"}');
    });

    it('are printed by ConsoleTracer', async () => {
      const out = capture();
      await identity.invoke(hostile(), { callbacks: [new ConsoleTracer({ stream: out.stream, colors: false, timings: false })] });
      expect(out.text()).toContain('in: {"__proto__":{"isAdmin":true},"name":"x"}');
    });

    it('come back from extractRunContext() as metadata data, not as its prototype', () => {
      const config = extractRunContext({ baggage: 'callscope.metadata.__proto__=polluted,callscope.metadata.user=ann' });
      const metadata = config.metadata as Record<string, unknown>;
      expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
      expect(Object.keys(metadata)).toEqual(['__proto__', 'user']);
      expect(Object.getOwnPropertyDescriptor(metadata, '__proto__')?.value).toBe('polluted');
    });
  });

  describe('a revoked Proxy in an input', () => {
    it('never fails a run watched by RunCollector, ConsoleTracer and JsonlTracer', async () => {
      const collector = new RunCollector();
      const out = capture();
      const jsonl = new JsonlTracer(new PassThrough());
      const result = await identity.invoke(revokedProxy(), { callbacks: [collector, new ConsoleTracer({ stream: out.stream, colors: false, timings: false }), jsonl] });
      await jsonl.close();
      expect(result).toBe('done');
      expect(collector.runs.map((run) => run.name)).toEqual(['identity']);
      expect(out.text()).toMatch(/^chain identity {2}in: .*out: "done"\n$/);
      expect(reports).toEqual([]);
    });

    it('never fails a tool run: the tool input handed to handlers is a description instead', async () => {
      const echo = tool(() => 'done', { name: 'echo', description: 'echo', schema: z.any() });
      const collector = new RunCollector();
      await expect(echo.invoke(revokedProxy(), { callbacks: [collector] })).resolves.toBe('done');
      expect(typeof collector.runs[0]?.inputs).toBe('string');
      expect(reports).toEqual([]);
    });
  });

  describe('a header carrier whose getter throws', () => {
    it('gives a ConfigError naming the carrier (a plain object)', () => {
      const carrier = {
        get baggage(): string {
          throw new Error('getter exploded');
        },
      };
      const attempt = () => extractRunContext(carrier);
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(/Could not read the `baggage` header from the carrier/);
    });

    it('gives a ConfigError naming the carrier (a Headers-like whose get() throws)', () => {
      const carrier = {
        get(): string | null {
          throw new Error('get exploded');
        },
        set(): void {},
      };
      expect(() => extractRunContext(carrier)).toThrow(ConfigError);
    });
  });

  it('bounds a toJSON that returns a fresh object on every call by depth, in JsonlTracer and ConsoleTracer', async () => {
    class Endless {
      toJSON(): Endless {
        return new Endless();
      }
    }
    const out = capture();
    const [record] = await jsonlOf((tracer) =>
      identity.invoke(new Endless(), { callbacks: [tracer, new ConsoleTracer({ stream: out.stream, colors: false, timings: false })] }),
    );
    const line = JSON.stringify(record?.inputs);
    expect(line).not.toContain('Maximum call stack');
    expect(line).toContain('[Object]');
    expect(out.text()).toContain('chain identity');
    expect(out.text()).not.toContain('Maximum call stack');
  });

  it("keeps ConsoleTracer's tree when a Proxy's ownKeys throws in an input or an output", async () => {
    const sneaky = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('no keys for you');
        },
      },
    );
    const child = RunnableLambda.from(() => sneaky, { name: 'child' });
    const parent = RunnableLambda.from(async (_: unknown) => {
      await child.invoke(sneaky);
      return 'ok';
    }, { name: 'parent' });
    const out = capture();
    await expect(parent.invoke(sneaky, { callbacks: [new ConsoleTracer({ stream: out.stream, colors: false, timings: false })] })).resolves.toBe('ok');
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^chain parent {2}in: .* {2}out: "ok"$/);
    expect(lines[1]).toMatch(/^└─ chain child {2}in: .*out: /);
    expect(reports).toEqual([]);
  });
});
