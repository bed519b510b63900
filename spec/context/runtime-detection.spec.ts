import { AsyncLocalStorage } from 'node:async_hooks';
import type * as Callscope from '../../lib';

/**
 * A stand-in for the TC39 `AsyncContext` global, which no runtime tested here ships yet: its `Variable` has the
 * proposal's `get()` and `run(value, fn, ...args)`, carried here by an AsyncLocalStorage.
 */
class StandInVariable<TValue> {
  static created = 0;
  private readonly storage = new AsyncLocalStorage<TValue>();

  constructor() {
    StandInVariable.created++;
  }

  get(): TValue | undefined {
    return this.storage.getStore();
  }

  run<TArgs extends unknown[], TResult>(value: TValue, fn: (...args: TArgs) => TResult, ...args: TArgs): TResult {
    return this.storage.run(value, fn, ...args);
  }
}

type Globals = typeof globalThis & { AsyncContext?: { Variable: typeof StandInVariable } };

/** Loads a fresh copy of callscope as a runtime with or without AsyncLocalStorage and AsyncContext would. */
function loadIn(runtime: { asyncLocalStorage: boolean; asyncContext: boolean }): typeof Callscope {
  const globals = globalThis as Globals;
  if (runtime.asyncContext) globals.AsyncContext = { Variable: StandInVariable };
  else delete globals.AsyncContext;
  let loaded: typeof Callscope | undefined;
  jest.isolateModules(() => {
    jest.doMock('../../lib/platform', () => {
      const actual = jest.requireActual<Record<string, unknown>>('../../lib/platform/node');
      return runtime.asyncLocalStorage
        ? actual
        : {
            ...actual,
            asyncLocalStorageAvailable: false,
            asyncLocalStorageClass: () => undefined,
            asyncResourceClass: () => undefined,
            asyncLocalStorageMissing: 'this runtime has no AsyncLocalStorage (stand-in)',
          };
    });
    loaded = jest.requireActual<typeof Callscope>('../../lib');
  });
  return loaded as typeof Callscope;
}

/** A two-level pipeline whose inner runnable is invoked without config, after an await. */
async function nestedRunNames(callscope: typeof Callscope, input: number): Promise<string[]> {
  const leaf = callscope.RunnableLambda.from(async (x: number) => x + 1, { name: `leaf-${input}` });
  const top = callscope.RunnableLambda.from(async (x: number) => {
    await Promise.resolve();
    return leaf.invoke(x);
  }, { name: `top-${input}` });
  const collector = new callscope.RunCollector();
  await top.invoke(input, { callbacks: [collector] });
  return collector.runs.flatMap((run) => [run.name, ...run.children.map((child) => `${run.name} > ${child.name}`)]);
}

afterEach(() => {
  delete (globalThis as Globals).AsyncContext;
  jest.dontMock('../../lib/platform');
});

describe('the default propagation mode', () => {
  it("is 'async-local-storage' where AsyncLocalStorage exists, even beside AsyncContext", () => {
    const callscope = loadIn({ asyncLocalStorage: true, asyncContext: true });
    expect(callscope.getConfiguration().propagation).toBe('async-local-storage');
  });

  it("is 'async-context' where only the TC39 AsyncContext exists, and carries runs through it", async () => {
    const before = StandInVariable.created;
    const callscope = loadIn({ asyncLocalStorage: false, asyncContext: true });

    expect(callscope.getConfiguration().propagation).toBe('async-context');
    const trees = await Promise.all([nestedRunNames(callscope, 1), nestedRunNames(callscope, 2)]);
    expect(trees).toEqual([
      ['top-1', 'top-1 > leaf-1'],
      ['top-2', 'top-2 > leaf-2'],
    ]);
    // One variable for the whole realm, made when the backend was created (on first use), not one per run.
    expect(StandInVariable.created - before).toBe(1);
  });

  it("is 'explicit' where neither exists, and importing does not throw", async () => {
    const callscope = loadIn({ asyncLocalStorage: false, asyncContext: false });

    expect(callscope.getConfiguration().propagation).toBe('explicit');
    // The child is invoked without config: in 'explicit' mode it starts a root run the collector never sees.
    await expect(nestedRunNames(callscope, 1)).resolves.toEqual(['top-1']);
  });
});

describe('configure({ propagation }) with a mode the runtime lacks', () => {
  it("refuses 'async-local-storage' without AsyncLocalStorage with a ConfigError saying so, and changes nothing", () => {
    const callscope = loadIn({ asyncLocalStorage: false, asyncContext: false });

    let thrown: unknown;
    try {
      callscope.configure({ propagation: 'async-local-storage' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(callscope.ConfigError);
    expect(thrown).toMatchObject({ name: 'ConfigError', field: 'propagation', received: 'async-local-storage' });
    expect((thrown as Error).message).toContain("got 'async-local-storage': this runtime has no AsyncLocalStorage (stand-in)");
    expect(callscope.getConfiguration().propagation).toBe('explicit');
  });

  it("refuses 'async-context' without AsyncContext with a ConfigError saying so, and changes nothing", () => {
    const callscope = loadIn({ asyncLocalStorage: true, asyncContext: false });

    expect(() => callscope.configure({ propagation: 'async-context' })).toThrow(
      expect.objectContaining({
        name: 'ConfigError',
        field: 'propagation',
        message: expect.stringContaining('this runtime has no `AsyncContext` global') as unknown,
      }) as Error,
    );
    expect(callscope.getConfiguration().propagation).toBe('async-local-storage');
  });

  it("accepts 'async-context' where AsyncContext exists and names it among the modes in its errors", () => {
    const callscope = loadIn({ asyncLocalStorage: true, asyncContext: true });

    expect(callscope.configure({ propagation: 'async-context' }).propagation).toBe('async-context');
    expect(() => callscope.configure({ propagation: 'zone.js' as 'explicit' })).toThrow(
      "Expected `propagation` to be one of 'async-local-storage', 'cls-hooked', 'explicit', 'async-context', got `\"zone.js\"` (string)",
    );
  });
});
