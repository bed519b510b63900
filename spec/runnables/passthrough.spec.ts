import { ConfigError, configure, RunCollector, RunnableGenerator, RunnableLambda, RunnablePassthrough, RunnableParallel, RunnableSequence, type CollectedRun, type PropagationMode } from '../../lib';
import { expectLinked } from '../helpers/trees';

const modes: PropagationMode[] = ['async-local-storage', 'cls-hooked', 'explicit'];

afterAll(() => configure({ propagation: 'async-local-storage' }));

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const chunks: T[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('RunnablePassthrough', () => {
  it('returns its input unchanged, as a run of its own', async () => {
    const collector = new RunCollector();
    const input = { a: 1 };
    await expect(new RunnablePassthrough().invoke(input, { callbacks: [collector] })).resolves.toBe(input);
    expect(collector.runs.map((run) => [run.name, run.outputs])).toEqual([['RunnablePassthrough', input]]);
  });

  it('keeps the input next to values computed from it in a parallel', async () => {
    const parallel = RunnableParallel.from({ original: new RunnablePassthrough<string>(), upper: (text: string) => text.toUpperCase() });
    await expect(parallel.invoke('hi')).resolves.toEqual({ original: 'hi', upper: 'HI' });
  });

  it('passes streamed chunks on as they come', async () => {
    const words = RunnableGenerator.from(async function* () {
      yield 'a';
      yield 'b';
    });
    await expect(collect(RunnableSequence.from([words, new RunnablePassthrough()]).stream(undefined))).resolves.toEqual(['a', 'b']);
  });

  describe('.assign()', () => {
    it('adds keys computed in parallel from the input object', async () => {
      const assign = RunnablePassthrough.assign({ total: (order: { items: number[] }) => order.items.length, first: (order: { items: number[] }) => order.items[0] });
      await expect(assign.invoke({ items: [4, 5] })).resolves.toEqual({ items: [4, 5], total: 2, first: 4 });
    });

    it("has no run of its own in invoke: the parallel computing the keys is its run, as in LangChain", async () => {
      const collector = new RunCollector();
      await RunnablePassthrough.assign({ size: RunnableLambda.from((x: { v: string }) => x.v.length, { name: 'size' }) }).invoke({ v: 'abc' }, { callbacks: [collector] });
      const root = collector.runs[0] as CollectedRun;
      expect([root.name, root.children.map((run) => [run.name, run.tags])]).toEqual(['RunnableMap', [['size', ['map:key:size']]]]);
    });

    it('streams the input keys first, then each added key, under a RunnableAssign run', async () => {
      const collector = new RunCollector();
      const chunks = await collect(RunnablePassthrough.assign({ size: (x: { v: string }) => x.v.length }).stream({ v: 'abc' }, { callbacks: [collector] }));
      expect(chunks).toEqual([{ v: 'abc' }, { size: 3 }]);
      const root = collector.runs[0] as CollectedRun;
      expect([root.name, root.outputs, root.children.map((run) => run.name)]).toEqual(['RunnableAssign', { v: 'abc', size: 3 }, ['RunnableMap']]);
      expectLinked(root);
    });

    it('rejects with ConfigError when its input is not an object', async () => {
      await expect(RunnablePassthrough.assign({ x: () => 1 }).invoke(5 as never)).rejects.toThrow(ConfigError);
    });

    it('throws ConfigError when the mapping is empty', () => {
      expect(() => RunnablePassthrough.assign({})).toThrow(ConfigError);
    });
  });

  describe('runnable.assign()', () => {
    it("adds keys to the runnable's output object", async () => {
      const parse = RunnableLambda.from((text: string) => ({ text }));
      await expect(parse.assign({ length: (doc: { text: string }) => doc.text.length }).invoke('four')).resolves.toEqual({ text: 'four', length: 4 });
    });
  });

  it('throws ConfigError for an unknown option', () => {
    expect(() => new RunnablePassthrough({ fn: () => 1 } as never)).toThrow(/Unknown option `fn`/);
  });

  describe.each(modes)("in '%s' mode", (mode) => {
    beforeEach(() => configure({ propagation: mode }));

    it('links runnable.assign as a sequence of the runnable and the parallel', async () => {
      const collector = new RunCollector();
      const parse = RunnableLambda.from((text: string) => ({ text }), { name: 'parse' });
      await parse.assign({ length: RunnableLambda.from((doc: { text: string }) => doc.text.length, { name: 'length' }) }).invoke('ab', { callbacks: [collector] });
      const root = collector.runs[0] as CollectedRun;
      expectLinked(root);
      expect([root.name, root.children.map((run) => [run.name, run.children.map((child) => child.name)])]).toEqual([
        'RunnableSequence',
        [
          ['parse', []],
          ['RunnableMap', ['length']],
        ],
      ]);
    });
  });
});
