import { ConfigError, configure, RunCollector, RunnableBranch, RunnableGenerator, RunnableLambda, type CollectedRun, type PropagationMode, type RunnableConfig } from '../../lib';
import { expectLinked } from '../helpers/trees';

const modes: PropagationMode[] = ['async-local-storage', 'cls-hooked', 'explicit'];

afterAll(() => configure({ propagation: 'async-local-storage' }));

const named = <TIn, TOut>(name: string, fn: (input: TIn) => TOut) => RunnableLambda.from(fn, { name });

function signBranch() {
  return RunnableBranch.from([
    [named('negative?', (x: number) => x < 0), named('negative', (_x: number) => 'negative')],
    [named('zero?', (x: number) => x === 0), named('zero', (_x: number) => 'zero')],
    named('positive', (_x: number) => 'positive'),
  ]);
}

describe('RunnableBranch', () => {
  describe('.invoke()', () => {
    it.each([
      [-1, 'negative'],
      [0, 'zero'],
      [5, 'positive'],
    ])('runs the step of the first condition that holds, else the default (%p -> %p)', async (input, expected) => {
      await expect(signBranch().invoke(input)).resolves.toBe(expected);
    });

    it('evaluates conditions in order as child runs tagged condition:N, then runs the chosen step tagged branch:N', async () => {
      const collector = new RunCollector();
      await signBranch().invoke(0, { callbacks: [collector] });
      const root = collector.runs[0] as CollectedRun;
      expect(root.name).toBe('RunnableBranch');
      expect(root.children.map((run) => [run.name, run.tags])).toEqual([
        ['negative?', ['condition:1']],
        ['zero?', ['condition:2']],
        ['zero', ['branch:2']],
      ]);
      expectLinked(root);
    });

    it('tags the default step branch:default', async () => {
      const collector = new RunCollector();
      await signBranch().invoke(3, { callbacks: [collector] });
      expect((collector.runs[0] as CollectedRun).children.map((run) => run.tags)).toEqual([['condition:1'], ['condition:2'], ['branch:default']]);
    });

    it('returns a falsy output of the chosen step as it is', async () => {
      const branch = RunnableBranch.from([[() => true, () => 0], () => 99]);
      await expect(branch.invoke(undefined)).resolves.toBe(0);
    });

    it('accepts an async condition and a plain object of steps as a branch', async () => {
      const branch = RunnableBranch.from([[async (x: number) => x > 1, { twice: (x: number) => x * 2 }], () => ({ twice: 0 })]);
      await expect(branch.invoke(2)).resolves.toEqual({ twice: 4 });
    });

    it('fails with the error of a failing condition', async () => {
      const failure = new Error('bad condition');
      const branch = RunnableBranch.from([
        [
          () => {
            throw failure;
          },
          () => 'never',
        ],
        () => 'default',
      ]);
      await expect(branch.invoke(undefined)).rejects.toBe(failure);
    });
  });

  describe('.stream()', () => {
    it('streams the chosen step', async () => {
      const letters = RunnableGenerator.from(async function* (input: AsyncIterable<string>) {
        for await (const text of input) yield* text.split('');
      });
      const branch = RunnableBranch.from([[(text: string) => text.length > 1, letters], (text: string) => text]);
      const chunks: string[] = [];
      for await (const chunk of branch.stream('abc')) chunks.push(chunk);
      expect(chunks).toEqual(['a', 'b', 'c']);
    });
  });

  describe('bad input', () => {
    it.each<[string, unknown, string]>([
      ['an empty array', [], 'branches'],
      ['not an array', 'x', 'branches'],
      ['a branch that is not a pair', [[() => true], () => 1], 'branches[0]'],
      ['a condition that is not a step', [[7, () => 1], () => 1], 'branches[0][0]'],
      ['a default that is not a step', [[() => true, () => 1], null], 'branches[1]'],
    ])('throws ConfigError for %s', (_label, branches, field) => {
      let caught: unknown;
      try {
        RunnableBranch.from(branches as never);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).field).toBe(field);
    });

    it('throws ConfigError for an unknown option', () => {
      expect(() => RunnableBranch.from([() => 1], { label: 'x' } as never)).toThrow(/Unknown option `label`/);
    });
  });

  describe.each(modes)("in '%s' mode", (mode) => {
    beforeEach(() => configure({ propagation: mode }));

    it('links what the chosen step calls under it, without the branch tag', async () => {
      const collector = new RunCollector();
      const leaf = named('leaf', (x: number) => x);
      const step = RunnableLambda.from((x: number, config: RunnableConfig) => leaf.invoke(x, config), { name: 'step' });
      await RunnableBranch.from([[() => true, step], () => 0]).invoke(1, { callbacks: [collector] });
      const root = collector.runs[0] as CollectedRun;
      expectLinked(root);
      const chosen = root.children[1] as CollectedRun;
      expect([chosen.name, chosen.tags, chosen.children.map((run) => [run.name, run.tags])]).toEqual(['step', ['branch:1'], [['leaf', []]]]);
    });
  });
});
