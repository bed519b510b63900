import {
  RunnableBranch as LCRunnableBranch,
  RunnableLambda as LCRunnableLambda,
  RunnableParallel as LCRunnableParallel,
  RunnablePassthrough as LCRunnablePassthrough,
  type Runnable as LCRunnable,
} from '@langchain/core/runnables';
import type { Run } from '@langchain/core/tracers/base';
import { RunCollectorCallbackHandler } from '@langchain/core/tracers/run_collector';
import {
  configure,
  RunnableBranch,
  RunnableLambda,
  RunnableParallel,
  RunnablePassthrough,
  type PropagationMode,
  type Runnable,
} from '../../lib';

/**
 * The same compositions built from callscope and from @langchain/core, each traced by LangChain's own
 * RunCollectorCallbackHandler: the recorded trees must agree on names, run types, parents, tags, and the
 * order of children wherever LangChain's order is deterministic (children of a parallel run concurrently,
 * so they are compared sorted by name).
 *
 * LangChain's RunnableSequence tags its steps `seq:step:N`; callscope's sequences do not tag their steps
 * (an existing difference, outside compositions), so those tags are left out of the comparison.
 */

interface Node {
  name: string;
  type: string;
  tags: string[];
  children: Node[];
}

function treeOf(run: Run, parentId: string | undefined, unordered: ReadonlySet<string>): Node {
  expect(run.parent_run_id).toBe(parentId);
  const children = run.child_runs.map((child) => treeOf(child, run.id, unordered));
  if (unordered.has(run.name)) children.sort((a, b) => a.name.localeCompare(b.name));
  return {
    name: run.name,
    type: run.run_type,
    tags: (run.tags ?? []).filter((tag) => !tag.startsWith('seq:step:')).sort(),
    children,
  };
}

/** Invokes (or streams, or batches) with a fresh collector and returns the recorded trees. */
async function record(call: (collector: RunCollectorCallbackHandler) => Promise<unknown>): Promise<Node[]> {
  const collector = new RunCollectorCallbackHandler();
  await call(collector).catch(() => undefined);
  return collector.tracedRuns.map((run) => treeOf(run as Run, undefined, new Set(['RunnableMap', 'RunnableParallel'])));
}

type Lambda = (input: never) => unknown;

// Both libraries name a lambda's runs differently by default (callscope after the function, LangChain
// always RunnableLambda): the compositions give every lambda an explicit name.
const ours = (name: string, fn: Lambda): Runnable<never, unknown> => RunnableLambda.from(fn, { name });
const theirs = (name: string, fn: Lambda): LCRunnable => {
  const lambda = LCRunnableLambda.from(fn as (input: unknown) => unknown);
  lambda.name = name;
  return lambda;
};

interface Case {
  name: string;
  input: unknown;
  build: (lambda: (name: string, fn: Lambda) => unknown, lib: 'callscope' | 'langchain') => unknown;
  run?: 'invoke' | 'stream' | 'batch';
  /** LangChain's retry waits at least a second between attempts, with no option to shorten it: fake timers. */
  langChainWaits?: boolean;
}

let failures = 0;
const flaky = (): ((x: number) => number) => {
  failures = 0;
  return (x: number) => {
    if (++failures < 3) throw new Error(`failure ${failures}`);
    return x;
  };
};

const fail = (): number => {
  throw new Error('down');
};

const cases: Case[] = [
  {
    name: 'a parallel of three lambdas',
    input: 2,
    build: (lambda, lib) => {
      const steps = { double: lambda('double', (x: number) => x * 2), inc: lambda('inc', (x: number) => x + 1), same: lambda('same', (x: number) => x) };
      return lib === 'callscope' ? RunnableParallel.from(steps as never) : LCRunnableParallel.from(steps as never);
    },
  },
  {
    name: 'a plain object of steps piped after a lambda',
    input: 2,
    build: (lambda) => {
      const first = lambda('first', (x: number) => x + 1) as { pipe(next: unknown): unknown };
      return first.pipe({ a: lambda('a', (x: number) => x), b: lambda('b', (x: number) => -x) });
    },
  },
  {
    name: 'a parallel nested in a parallel',
    input: 1,
    build: (lambda, lib) => {
      const inner = { x: lambda('x', (v: number) => v), y: lambda('y', (v: number) => v) };
      const steps = { inner, z: lambda('z', (v: number) => v) };
      return lib === 'callscope' ? RunnableParallel.from(steps as never) : LCRunnableParallel.from(steps as never);
    },
  },
  {
    name: 'RunnablePassthrough',
    input: 5,
    build: (_lambda, lib) => (lib === 'callscope' ? new RunnablePassthrough() : new LCRunnablePassthrough()),
  },
  {
    name: 'RunnablePassthrough.assign',
    input: { v: 1 },
    build: (lambda, lib) => {
      const mapping = { twice: lambda('twice', (x: { v: number }) => x.v * 2), thrice: lambda('thrice', (x: { v: number }) => x.v * 3) };
      return lib === 'callscope' ? RunnablePassthrough.assign(mapping as never) : LCRunnablePassthrough.assign(mapping as never);
    },
  },
  {
    name: 'runnable.assign',
    input: 1,
    build: (lambda) => (lambda('wrap', (x: number) => ({ v: x })) as { assign(mapping: unknown): unknown }).assign({ twice: lambda('twice', (x: { v: number }) => x.v * 2) }),
  },
  {
    name: 'RunnablePassthrough.assign, streamed',
    input: { v: 1 },
    run: 'stream',
    build: (lambda, lib) => {
      const mapping = { twice: lambda('twice', (x: { v: number }) => x.v * 2) };
      return lib === 'callscope' ? RunnablePassthrough.assign(mapping as never) : LCRunnablePassthrough.assign(mapping as never);
    },
  },
  {
    name: 'a branch taking its second branch',
    input: 3,
    build: (lambda, lib) => {
      const branches = [
        [lambda('big?', (x: number) => x > 10), lambda('big', () => 'big')],
        [lambda('small?', (x: number) => x > 1), lambda('small', () => 'small')],
        lambda('tiny', () => 'tiny'),
      ];
      return lib === 'callscope' ? RunnableBranch.from(branches as never) : LCRunnableBranch.from(branches as never);
    },
  },
  {
    name: 'a branch falling to its default',
    input: 0,
    build: (lambda, lib) => {
      const branches = [[lambda('big?', (x: number) => x > 10), lambda('big', () => 'big')], lambda('other', () => 'other')];
      return lib === 'callscope' ? RunnableBranch.from(branches as never) : LCRunnableBranch.from(branches as never);
    },
  },
  {
    name: 'a branch, streamed',
    input: 3,
    run: 'stream',
    build: (lambda, lib) => {
      const branches = [[lambda('big?', (x: number) => x > 1), lambda('big', () => 'big')], lambda('other', () => 'other')];
      return lib === 'callscope' ? RunnableBranch.from(branches as never) : LCRunnableBranch.from(branches as never);
    },
  },
  {
    name: 'withRetry succeeding at the third attempt',
    input: 7,
    langChainWaits: true,
    build: (lambda, lib) =>
      (lambda('flaky', flaky()) as { withRetry(options: unknown): unknown }).withRetry(
        lib === 'callscope' ? { stopAfterAttempt: 3, backoff: { initialMs: 0, jitter: false } } : { stopAfterAttempt: 3 },
      ),
  },
  {
    name: 'withFallbacks using its second fallback',
    input: 1,
    build: (lambda) => (lambda('primary', fail) as { withFallbacks(fallbacks: unknown): unknown }).withFallbacks([lambda('second', fail), lambda('third', (x: number) => x)]),
  },
  {
    name: 'withFallbacks where all fail',
    input: 1,
    build: (lambda) => (lambda('primary', fail) as { withFallbacks(fallbacks: unknown): unknown }).withFallbacks([lambda('second', fail)]),
  },
  {
    name: 'withFallbacks, streamed',
    input: 1,
    run: 'stream',
    build: (lambda) => (lambda('primary', fail) as { withFallbacks(fallbacks: unknown): unknown }).withFallbacks([lambda('second', (x: number) => x)]),
  },
  {
    name: 'withListeners (no run of its own)',
    input: 1,
    build: (lambda) => (lambda('listened', (x: number) => x) as { withListeners(listeners: unknown): unknown }).withListeners({ onEnd: () => undefined }),
  },
  {
    name: 'batch over a parallel',
    input: [1, 2],
    run: 'batch',
    build: (lambda, lib) => {
      const steps = { a: lambda('a', (x: number) => x), b: lambda('b', (x: number) => x) };
      return lib === 'callscope' ? RunnableParallel.from(steps as never) : LCRunnableParallel.from(steps as never);
    },
  },
  {
    name: 'a parallel of a retried step, a fallen-back step and a branch',
    input: 2,
    langChainWaits: true,
    build: (lambda, lib) => {
      const retried = (lambda('flaky', flaky()) as { withRetry(options: unknown): unknown }).withRetry(
        lib === 'callscope' ? { stopAfterAttempt: 3, backoff: { initialMs: 0, jitter: false } } : { stopAfterAttempt: 3 },
      );
      const fallen = (lambda('primary', fail) as { withFallbacks(fallbacks: unknown): unknown }).withFallbacks([lambda('backup', (x: number) => x)]);
      const branches = [[lambda('even?', (x: number) => x % 2 === 0), lambda('even', () => 'even')], lambda('odd', () => 'odd')];
      const branch = lib === 'callscope' ? RunnableBranch.from(branches as never) : LCRunnableBranch.from(branches as never);
      // Steps that finish in a fixed order would not make the parallel's child order deterministic: sorted.
      const steps = { retried, fallen, branch };
      return lib === 'callscope' ? RunnableParallel.from(steps as never) : LCRunnableParallel.from(steps as never);
    },
  },
];

async function runCase(testCase: Case, lib: 'callscope' | 'langchain'): Promise<Node[]> {
  const runnable = testCase.build(lib === 'callscope' ? ours : theirs, lib) as {
    invoke(input: unknown, config: unknown): Promise<unknown>;
    stream(input: unknown, config: unknown): Promise<AsyncIterable<unknown>> | AsyncIterable<unknown>;
    batch(inputs: unknown[], config: unknown): Promise<unknown>;
  };
  return record(async (collector) => {
    const config = { callbacks: [collector], tags: ['outer'] };
    if (lib === 'langchain' && testCase.langChainWaits === true) {
      jest.useFakeTimers();
      try {
        let settled = false;
        const done = runnable.invoke(testCase.input, config).finally(() => {
          settled = true;
        });
        while (!settled) await jest.advanceTimersByTimeAsync(1_000);
        await done;
      } finally {
        jest.useRealTimers();
      }
    } else if (testCase.run === 'stream') {
      for await (const chunk of await runnable.stream(testCase.input, config)) void chunk;
    } else if (testCase.run === 'batch') {
      await runnable.batch(testCase.input as unknown[], config);
    } else {
      await runnable.invoke(testCase.input, config);
    }
  });
}

const modes: PropagationMode[] = ['async-local-storage', 'cls-hooked', 'explicit'];

afterAll(() => configure({ propagation: 'async-local-storage' }));

describe.each(modes)("composition trees recorded by LangChain's RunCollectorCallbackHandler ('%s' mode)", (mode) => {
  beforeEach(() => configure({ propagation: mode }));

  it.each(cases.map((testCase) => [testCase.name, testCase] as const))('%s: the same tree as @langchain/core', async (_name, testCase) => {
    const expected = await runCase(testCase, 'langchain');
    const actual = await runCase(testCase, 'callscope');
    expect(expected.length).toBeGreaterThan(0);
    expect(actual).toEqual(expected);
  });
});
