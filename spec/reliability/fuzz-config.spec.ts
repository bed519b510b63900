import fc from 'fast-check';
import { configure, RunnableLambda, type CallbackHandler, type RunnableConfig } from '../../lib';

/**
 * Fuzzed config mutation: random tags, metadata and configurable (nested plain data), one config object
 * reused by concurrent requests, mutated by the caller after each invoke and written to by a handler. Every
 * handler, body and child of a run must see exactly the values its caller passed at invoke.
 */

const numRuns = 100 * Number(process.env.FC_RUNS ?? 1);

// Plain data as it is put in metadata: strings, numbers, booleans, null, nested objects and arrays, with
// keys that include `__proto__` and `constructor`.
const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'constructor', 'tenant', 'user'));
const { value: plain } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(key, tie('value'), { maxKeys: 3 }),
  ),
}));
const record = fc.dictionary(key, plain, { maxKeys: 4 });

interface RequestValues {
  tags: string[];
  metadata: Record<string, unknown>;
  configurable: Record<string, unknown>;
}

const requestArb: fc.Arbitrary<RequestValues> = fc.record({ tags: fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), metadata: record, configurable: record });

type Mutation = { kind: 'set'; field: 'metadata' | 'configurable'; key: string; value: unknown } | { kind: 'deep'; field: 'metadata' | 'configurable' } | { kind: 'tag'; tag: string } | { kind: 'replace'; field: 'metadata' | 'configurable' };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), field: fc.constantFrom('metadata' as const, 'configurable' as const), key, value: plain }),
  fc.record({ kind: fc.constant('deep' as const), field: fc.constantFrom('metadata' as const, 'configurable' as const) }),
  fc.record({ kind: fc.constant('tag' as const), tag: fc.string({ maxLength: 5 }) }),
  fc.record({ kind: fc.constant('replace' as const), field: fc.constantFrom('metadata' as const, 'configurable' as const) }),
);

// A deep copy of plain data that keeps `__proto__` keys as data.
function copyPlain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(copyPlain);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) {
    Object.defineProperty(out, k, { value: copyPlain((value as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

// Writes into every nested plain object and array it finds.
function scribble(value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  try {
    if (Array.isArray(value)) {
      value.forEach(scribble);
      value.push('scribbled');
    } else {
      for (const inner of Object.values(value)) scribble(inner);
      (value as Record<string, unknown>).scribbled = true;
    }
  } catch {
    // A frozen snapshot refuses the write: that is the point.
  }
}

function mutate(config: RequestValues, mutation: Mutation): void {
  switch (mutation.kind) {
    case 'set':
      Object.defineProperty(config[mutation.field], mutation.key, { value: mutation.value, enumerable: true, writable: true, configurable: true });
      break;
    case 'deep':
      scribble(config[mutation.field]);
      break;
    case 'tag':
      config.tags.push(mutation.tag);
      break;
    case 'replace':
      config[mutation.field] = { replaced: true };
      break;
  }
}

// Own keys and values, as a string: `__proto__` keys included, prototypes ignored, unlike structuredClone
// and toEqual, which treat such keys in ways of their own.
function canonical(value: unknown): string {
  const walk = (item: unknown): unknown => {
    if (item === null || typeof item !== 'object') return item;
    if (Array.isArray(item)) return item.map(walk);
    return Object.keys(item).map((k) => [k, walk((item as Record<string, unknown>)[k])]);
  };
  return JSON.stringify(walk(value)) ?? 'undefined';
}

interface Observation {
  readonly request: number;
  readonly tags: unknown;
  readonly metadata: unknown;
  readonly configurable?: unknown;
}

describe('config mutation (fuzzed)', () => {
  beforeAll(() => configure({ onHandlerError: () => undefined }));
  afterAll(() => configure({ onHandlerError: undefined }));

  it('every handler, body and child sees the values passed at invoke, whatever the caller and handlers write later', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(requestArb, fc.array(mutationArb, { maxLength: 4 })), { minLength: 1, maxLength: 4 }), async (requests) => {
        const observed: Observation[] = [];
        const look = (request: number, tags: unknown, metadata: unknown, configurable?: unknown): void => {
          observed.push({ request, tags: canonical(tags), metadata: canonical(metadata), configurable: configurable === undefined ? undefined : canonical(configurable) });
        };
        const requestOf = (metadata: unknown): number => (metadata as { request: number }).request;
        const vandal: CallbackHandler = {
          name: 'vandal',
          handleChainStart(_s, _i, _r, _p, tags, metadata) {
            look(requestOf(metadata), tags, metadata);
            scribble(metadata);
            scribble(tags);
          },
        };
        const child = RunnableLambda.from((_: unknown, config: RunnableConfig) => {
          look(requestOf(config.metadata), config.tags, config.metadata, config.configurable);
          scribble(config.metadata);
          scribble(config.configurable);
        }, { name: 'child' });
        const body = RunnableLambda.from(async (_: unknown, config: RunnableConfig) => {
          // Let every request start, and every caller mutate, before anyone reads.
          await new Promise((resolve) => setImmediate(resolve));
          look(requestOf(config.metadata), config.tags, config.metadata, config.configurable);
          await child.invoke(undefined);
        }, { name: 'body' });

        // One config object reused for every request, as a careless server would.
        const shared: RequestValues = { tags: [], metadata: {}, configurable: {} };
        const expected: { tags: string[]; metadata: string; configurable: string }[] = [];
        const pending: Promise<unknown>[] = [];
        requests.forEach(([values, mutations], request) => {
          shared.tags = [...values.tags];
          shared.metadata = copyPlain(values.metadata) as Record<string, unknown>;
          Object.defineProperty(shared.metadata, 'request', { value: request, enumerable: true, writable: true, configurable: true });
          shared.configurable = copyPlain(values.configurable) as Record<string, unknown>;
          expected.push({ tags: [...new Set(shared.tags)], metadata: canonical(shared.metadata), configurable: canonical(shared.configurable) });
          pending.push(body.invoke(undefined, { ...shared, callbacks: [vandal] }));
          for (const mutation of mutations) mutate(shared, mutation);
        });
        await Promise.all(pending);

        expect(observed).toHaveLength(requests.length * 4); // vandal on body and child, body, child
        for (const observation of observed) {
          const want = expected[observation.request] as (typeof expected)[number];
          expect(observation.tags).toBe(canonical(want.tags));
          expect(observation.metadata).toBe(want.metadata);
          if (observation.configurable !== undefined) expect(observation.configurable).toBe(want.configurable);
        }
      }),
      { numRuns },
    );
  });
});
