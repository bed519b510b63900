import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { ConfigError, ConsoleTracer, FakeChatModel, RunCollector, RunnableLambda, RunnableSequence, tool, type ConsoleTracerOptions } from '../../lib';

// eslint-disable-next-line no-control-regex -- ANSI escape sequences are what is being removed
const ANSI = /\x1b\[[0-9;]*m/g;

/** A PassThrough that can pretend to be a terminal, and gives back everything written to it. */
function sink(isTTY = false): PassThrough & { isTTY?: boolean; text(): string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean; text(): string };
  if (isTTY) stream.isTTY = true;
  stream.setEncoding('utf8');
  let text = '';
  stream.text = () => {
    let chunk: string | null;
    while ((chunk = stream.read() as string | null) !== null) text += chunk;
    return text;
  };
  return stream;
}

/** Printed lines with durations replaced by `N ms`, so they can be compared exactly. */
function lines(text: string): string[] {
  return text
    .replace(ANSI, '')
    .replace(/ \d+ ms/g, ' N ms')
    .split('\n')
    .filter((line) => line !== '');
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

async function printTrip(options: ConsoleTracerOptions): Promise<void> {
  await expect(tripPlanner().invoke('Lisbon', { callbacks: [new ConsoleTracer(options)] })).rejects.toThrow('no suitcase found');
}

describe('ConsoleTracer', () => {
  describe('printing a finished root run', () => {
    it('prints the tree: type, name, duration, inputs and outputs, children indented in start order', async () => {
      const stream = sink();
      await printTrip({ stream });
      expect(lines(stream.text())).toEqual([
        'chain trip N ms  in: "Lisbon"  ✗ TypeError: no suitcase found',
        '├─ chain plan N ms  in: "Lisbon"  out: "Pack for: Sunny, 24 degrees"',
        '│  └─ tool weather N ms  in: {"city":"Lisbon"}  out: "Sunny, 24 degrees"',
        '│     └─ llm FakeChatModel N ms  3 tokens  in: "Weather in Lisbon?"  out: "Sunny, 24 degrees"',
        '└─ chain check N ms  in: "Pack for: Sunny, 24 degrees"  ✗ TypeError: no suitcase found',
      ]);
    });

    it('prints durations in whole milliseconds, and leaves them out with `timings: false`', async () => {
      const timed = sink();
      const untimed = sink();
      await printTrip({ stream: timed });
      await printTrip({ stream: untimed, timings: false });
      expect(timed.text().split('\n')[0]).toMatch(/^chain trip \d+ ms {2}in:/);
      expect(untimed.text().split('\n')[0]).toBe('chain trip  in: "Lisbon"  ✗ TypeError: no suitcase found');
    });

    it('prints nothing until the root run ends, then the whole tree in one write', async () => {
      const stream = sink();
      const writes: string[] = [];
      const write = stream.write.bind(stream);
      stream.write = ((chunk: string, ...rest: never[]) => {
        writes.push(chunk);
        return write(chunk, ...rest);
      }) as typeof stream.write;
      let seenInside: string | undefined;
      const leaf = RunnableLambda.from((x: number) => x + 1, { name: 'leaf' });
      const root = RunnableLambda.from(async (x: number) => {
        const y = await leaf.invoke(x);
        seenInside = stream.text();
        return y;
      }, { name: 'root' });
      await root.invoke(1, { callbacks: [new ConsoleTracer({ stream })] });
      expect(seenInside).toBe('');
      expect(writes).toHaveLength(1);
      expect(lines(writes[0] ?? '')).toEqual(['chain root N ms  in: 1  out: 2', '└─ chain leaf N ms  in: 1  out: 2']);
    });

    it('prints each of several concurrent root runs as a tree of its own', async () => {
      const stream = sink();
      const tracer = new ConsoleTracer({ stream, timings: false });
      const leaf = RunnableLambda.from(async (x: number) => x * 10, { name: 'leaf' });
      const root = RunnableLambda.from(async (x: number) => leaf.invoke(x), { name: 'root' });
      await Promise.all([root.invoke(1, { callbacks: [tracer] }), root.invoke(2, { callbacks: [tracer] })]);
      expect(lines(stream.text()).sort()).toEqual(
        ['chain root  in: 1  out: 10', '└─ chain leaf  in: 1  out: 10', 'chain root  in: 2  out: 20', '└─ chain leaf  in: 2  out: 20'].sort(),
      );
      const text = stream.text();
      // Each tree is contiguous: a root line is followed by its own leaf.
      expect(text).toMatch(/root {2}in: 1 {2}out: 10\n└─ chain leaf {2}in: 1 /);
      expect(text).toMatch(/root {2}in: 2 {2}out: 20\n└─ chain leaf {2}in: 2 /);
    });

    it('marks a child that is still running when its root ends', async () => {
      const stream = sink();
      let release: () => void = () => undefined;
      const slow = RunnableLambda.from(() => new Promise<string>((resolve) => (release = () => resolve('late'))), { name: 'slow' });
      const root = RunnableLambda.from((x: number) => {
        void slow.invoke(x);
        return x;
      }, { name: 'root' });
      await root.invoke(1, { callbacks: [new ConsoleTracer({ stream, timings: false })] });
      release();
      expect(lines(stream.text())).toEqual(['chain root  in: 1  out: 1', '└─ chain slow  in: 1  (still running)']);
    });

    it('keeps nothing once a tree is printed', async () => {
      const tracer = new ConsoleTracer({ stream: sink() });
      await tripPlanner()
        .invoke('Lisbon', { callbacks: [tracer] })
        .catch(() => undefined);
      // Private, read on purpose: a tracer attached for the life of a process must not grow.
      expect(tracer.runs).toEqual([]);
      const internals = tracer as unknown as { known: Map<string, unknown>; inFlight: Map<string, unknown> };
      expect(internals.known.size).toBe(0);
      expect(internals.inFlight.size).toBe(0);
    });

    it('cuts inputs and outputs longer than `maxLength` with an ellipsis', async () => {
      const stream = sink();
      const echo = RunnableLambda.from((text: string) => text.toUpperCase(), { name: 'echo' });
      await echo.invoke('x'.repeat(200), { callbacks: [new ConsoleTracer({ stream, maxLength: 12, timings: false })] });
      expect(lines(stream.text())).toEqual(['chain echo  in: "xxxxxxxxxx…  out: "XXXXXXXXXX…']);
    });

    it('shows cyclic, BigInt and nested values without throwing', async () => {
      const stream = sink();
      const cyclic: Record<string, unknown> = { id: 7n };
      cyclic.self = cyclic;
      const inspect = RunnableLambda.from((value: Record<string, unknown>) => Object.keys(value), { name: 'inspect' });
      await expect(inspect.invoke(cyclic, { callbacks: [new ConsoleTracer({ stream, timings: false })] })).resolves.toEqual(['id', 'self']);
      expect(lines(stream.text())).toEqual(['chain inspect  in: {"id":"7","self":"[Circular]"}  out: ["id","self"]']);
    });
  });

  describe('colours', () => {
    const savedNoColor = process.env.NO_COLOR;
    beforeEach(() => delete process.env.NO_COLOR);
    afterAll(() => {
      if (savedNoColor === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = savedNoColor;
    });

    it('writes no ANSI escapes to a stream that is not a TTY', async () => {
      const stream = sink(false);
      await printTrip({ stream });
      expect(stream.text()).not.toMatch(ANSI);
    });

    it('colours the output for a TTY, with the same text once escapes are removed', async () => {
      const tty = sink(true);
      const plain = sink(false);
      await printTrip({ stream: tty, timings: false });
      await printTrip({ stream: plain, timings: false });
      expect(tty.text()).toMatch(ANSI);
      expect(tty.text().replace(ANSI, '')).toBe(plain.text());
    });

    it('prints a failed run’s error in red', async () => {
      const stream = sink(true);
      await printTrip({ stream });
      const checkLine = stream.text().split('\n').find((line) => line.includes('check')) ?? '';
      expect(checkLine).toContain('\x1b[31m✗ TypeError: no suitcase found\x1b[39m');
    });

    it('follows the `colors` option over the kind of stream', async () => {
      const forcedOn = sink(false);
      const forcedOff = sink(true);
      await printTrip({ stream: forcedOn, colors: true });
      await printTrip({ stream: forcedOff, colors: false });
      expect(forcedOn.text()).toMatch(ANSI);
      expect(forcedOff.text()).not.toMatch(ANSI);
    });

    it('writes no colours to a TTY when NO_COLOR is set', async () => {
      process.env.NO_COLOR = '1';
      const stream = sink(true);
      await printTrip({ stream });
      expect(stream.text()).not.toMatch(ANSI);
    });
  });

  describe('options', () => {
    it('writes to process.stdout by default', async () => {
      const written: string[] = [];
      const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
      try {
        await RunnableLambda.from((x: number) => x, { name: 'identity' }).invoke(5, { callbacks: [new ConsoleTracer({ timings: false })] });
      } finally {
        spy.mockRestore();
      }
      expect(written.join('').replace(ANSI, '')).toBe('chain identity  in: 5  out: 5\n');
    });

    it.each([
      [{ stream: 42 }, 'Expected `stream` to be a writable stream, got `42` (number).'],
      [{ colors: 'yes' }, 'Expected `colors` to be a boolean, got `"yes"` (string).'],
      [{ maxLength: 0 }, 'Expected `maxLength` to be a positive integer, got `0` (number).'],
      [{ timings: 1 }, 'Expected `timings` to be a boolean, got `1` (number).'],
    ])('rejects %j with a ConfigError naming the option', (options, message) => {
      const construct = (): ConsoleTracer => new ConsoleTracer(options as unknown as ConsoleTracerOptions);
      expect(construct).toThrow(ConfigError);
      expect(construct).toThrow(message);
    });
  });

  describe('.format()', () => {
    it('renders a tree a RunCollector collected exactly as the tracer prints it', async () => {
      const stream = sink();
      const tracer = new ConsoleTracer({ stream, timings: false });
      const collector = new RunCollector();
      await expect(tripPlanner().invoke('Lisbon', { callbacks: [tracer, collector] })).rejects.toThrow();
      const [root] = collector.runs;
      if (root === undefined) throw new Error('no run collected');
      expect(tracer.format(root) + '\n').toBe(stream.text());
    });
  });
});
