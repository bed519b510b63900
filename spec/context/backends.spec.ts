import { createAsyncLocalStorageBackend, createClsHookedBackend, createExplicitBackend, type ContextBackend } from '../../lib/context';

// One suite over every backend, the way OpenTelemetry runs one suite over its context managers.
type Value = { readonly name: string };
const a: Value = { name: 'a' };
const b: Value = { name: 'b' };

const implicit: [string, () => ContextBackend<Value>][] = [
  ['async-local-storage', () => createAsyncLocalStorageBackend<Value>()],
  ['cls-hooked', () => createClsHookedBackend<Value>()],
];

describe.each(implicit)('%s backend', (_name, create) => {
  const backend = create();

  it('has no active value outside with()', () => {
    expect(backend.active()).toBeUndefined();
  });

  it('makes the value active inside with() and passes the arguments through', () => {
    expect(backend.with(a, (x: number, y: number) => [backend.active(), x + y], 1, 2)).toEqual([a, 3]);
  });

  it('calls fn with exactly the arguments given, however many', () => {
    function counted(...args: unknown[]): [Value | undefined, number, unknown[]] {
      return [backend.active(), arguments.length, args];
    }
    const calls: unknown[][] = [[], [1], [1, 2], [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4, 5, 6, 7, 8]];
    for (const args of calls) expect(backend.with(a, counted, ...args)).toEqual([a, args.length, args]);
    // The value already active: fn is still called with its arguments, and the value stays.
    backend.with(a, () => expect(backend.with(a, counted, undefined)).toEqual([a, 1, [undefined]]));
    expect(backend.active()).toBeUndefined();
  });

  it('nests, and restores the outer value when the inner with() returns', () => {
    backend.with(a, () => {
      backend.with(b, () => expect(backend.active()).toBe(b));
      expect(backend.active()).toBe(a);
    });
    expect(backend.active()).toBeUndefined();
  });

  it('restores the previous value when fn throws', () => {
    backend.with(a, () => {
      expect(() => backend.with(b, () => {
        throw new Error('x');
      })).toThrow('x');
      expect(backend.active()).toBe(a);
    });
  });

  it('keeps the value across await, and restores the caller after the promise settles', async () => {
    const seen = await backend.with(a, async () => {
      await Promise.resolve();
      await new Promise((resolve) => setTimeout(resolve, 1));
      return backend.active();
    });
    expect(seen).toBe(a);
    expect(backend.active()).toBeUndefined();
  });

  it.each([
    ['setTimeout', (fn: () => void) => setTimeout(fn, 1)],
    ['setImmediate', (fn: () => void) => setImmediate(fn)],
    ['process.nextTick', (fn: () => void) => process.nextTick(fn)],
    ['queueMicrotask', (fn: () => void) => queueMicrotask(fn)],
  ])('keeps the value in %s callbacks', async (_label, schedule) => {
    const seen = await backend.with(a, () => new Promise((resolve) => schedule(() => resolve(backend.active()))));
    expect(seen).toBe(a);
  });

  it('isolates concurrent branches of Promise.all', async () => {
    const seen = await Promise.all(
      [a, b].map((value) =>
        backend.with(value, async () => {
          await new Promise((resolve) => setTimeout(resolve, value === a ? 3 : 1));
          return backend.active();
        }),
      ),
    );
    expect(seen).toEqual([a, b]);
  });

  it('runs an async generator body in the context of whoever calls next()', async () => {
    async function* body() {
      yield backend.active();
      await Promise.resolve();
      yield backend.active();
    }
    const generator = backend.with(a, () => body());
    const first = await backend.with(b, () => generator.next());
    const second = await generator.next();
    expect([first.value, second.value]).toEqual([b, undefined]);
  });

  it('bind() runs fn with the bound value wherever it is called', async () => {
    const bound = backend.bind(a, () => backend.active());
    expect(bound()).toBe(a);
    expect(backend.with(b, bound)).toBe(a);
    expect(await new Promise((resolve) => setImmediate(() => resolve(bound())))).toBe(a);
  });

  it('observed() equals active()', () => {
    backend.with(a, () => expect(backend.observed()).toBe(backend.active()));
  });
});

describe.each([
  ['explicit backend', false],
  ['explicit backend with run tracking', true],
])('%s', (_name, track) => {
  const backend = createExplicitBackend<Value>(track);

  it('never makes a value active, so nothing is inherited', async () => {
    const seen = await backend.with(a, async () => {
      await Promise.resolve();
      return backend.active();
    });
    expect(seen).toBeUndefined();
  });

  it('calls fn with its arguments and returns its result', () => {
    expect(backend.with(a, (x: number) => x * 2, 21)).toBe(42);
  });

  it(track ? 'tracks the running value for diagnostics only' : 'tracks nothing', async () => {
    const seen = await backend.with(a, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return backend.observed();
    });
    expect(seen).toBe(track ? a : undefined);
    expect(backend.observed()).toBeUndefined();
  });
});
