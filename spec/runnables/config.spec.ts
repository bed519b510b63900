import fc from 'fast-check';
import { CallbackManager, ConfigError, RunCollector, RunnableLambda, type RunnableConfig } from '../../lib';
import { normalizeConfig, quickParse } from '../../lib/runnables/config';

/** The zod path alone: a config with an extra field the quick path does not take. */
function normalizeConfigWithZod(config: unknown) {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return normalizeConfig(config);
  const { ...copy } = config as Record<string, unknown>;
  const result = normalizeConfig(Object.assign(Object.create(null) as object, copy));
  return result;
}

const identity = RunnableLambda.from((x: unknown) => x, { name: 'identity' });

describe('RunnableConfig validation', () => {
  it.each([
    ['callbacks', { callbacks: 42 }, 'Expected `callbacks` to be an array of handlers or a CallbackManager, got `42` (number)'],
    ['callbacks', { callbacks: [null] }, '`callbacks[0]`'],
    ['tags', { tags: ['ok', 7] }, 'Expected `tags` to be an array of strings, got `["ok",7]` (array) (at `tags[1]`: got `7` (number))'],
    ['tags', { tags: 'solo' }, 'Expected `tags` to be an array of strings, got `"solo"` (string)'],
    ['metadata', { metadata: [1] }, 'Expected `metadata` to be a plain object, got `[1]` (array)'],
    ['runId', { runId: 'not-a-uuid' }, 'Expected `runId` to be a UUID string, got `"not-a-uuid"` (string)'],
    ['runName', { runName: '' }, 'Expected `runName` to be a non-empty string'],
    ['maxConcurrency', { maxConcurrency: 0 }, 'Expected `maxConcurrency` to be a whole number of at least 1 (or Infinity), got `0` (number)'],
    ['maxConcurrency', { maxConcurrency: 1.5 }, 'got `1.5` (number)'],
    ['signal', { signal: 'abort' }, 'Expected `signal` to be an AbortSignal'],
    ['configurable', { configurable: 3 }, 'Expected `configurable` to be a plain object'],
    ['timeout', { timeout: -5 }, 'Expected `timeout` to be a positive number of milliseconds, got `-5` (number)'],
    ['timeout', { timeout: Number.POSITIVE_INFINITY }, 'Expected `timeout` to be a positive number of milliseconds'],
  ])('rejects a bad `%s` with a ConfigError naming the field and the value', async (field, config, message) => {
    const failure = identity.invoke(1, config as unknown as RunnableConfig);

    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toMatchObject({ name: 'ConfigError', code: 'INVALID_CONFIG' });
    await expect(failure).rejects.toThrow(message);
    const error = (await failure.catch((e: unknown) => e)) as ConfigError;
    expect(error.field.startsWith(field)).toBe(true);
  });

  it('rejects a config that is not an object', async () => {
    await expect(identity.invoke(1, 'fast' as unknown as RunnableConfig)).rejects.toThrow('Expected RunnableConfig to be an object, got `"fast"` (string)');
  });

  it('emits no event and never runs the body for an invalid config', async () => {
    const collector = new RunCollector();
    const body = jest.fn();
    await expect(RunnableLambda.from(body).invoke(1, { callbacks: [collector], tags: [1] } as unknown as RunnableConfig)).rejects.toThrow(ConfigError);
    expect(body).not.toHaveBeenCalled();
    expect(collector.runs).toHaveLength(0);
  });

  it('accepts every valid field, Infinity for maxConcurrency, and unknown LangChain fields', async () => {
    const controller = new AbortController();
    const config = {
      callbacks: new CallbackManager([]),
      tags: ['a'],
      metadata: { a: 1 },
      runName: 'named',
      runId: '0190a6b2-7f1c-7cc1-9a64-4b8f5cf0c0de',
      signal: controller.signal,
      maxConcurrency: Number.POSITIVE_INFINITY,
      configurable: { thread: 1 },
      recursionLimit: 25,
    };
    await expect(identity.invoke(1, config)).resolves.toBe(1);
  });

  it('validates withConfig() and CallbackManager arguments the same way', () => {
    expect(() => identity.withConfig({ tags: [3] } as unknown as RunnableConfig)).toThrow(ConfigError);
    expect(() => new CallbackManager(5 as unknown as [])).toThrow('Expected `handlers` to be an array of handlers or a CallbackManager, got `5` (number)');
    expect(() => new CallbackManager(['x'] as unknown as [])).toThrow('`handlers[0]`');
  });
});

describe('the quick path for common configs', () => {
  // normalizeConfig skips zod for plain configs of the commonest fields; it must never accept what zod
  // rejects, nor produce a different result.
  const handler = { name: 'h', handleChainStart: () => undefined };
  const value = fc.oneof(
    fc.anything(),
    fc.constant(undefined),
    fc.array(fc.oneof(fc.string(), fc.constant(handler), fc.constant(null), fc.integer()), { maxLength: 3 }),
    fc.dictionary(fc.string(), fc.anything(), { maxKeys: 2 }),
    fc.constant(new AbortController().signal),
    fc.constant(new CallbackManager([handler])),
    fc.string(),
    fc.double(),
    fc.integer({ min: -2, max: 5 }),
    fc.constantFrom(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 0),
    fc.uuid(),
    fc.constantFrom('0190c2a4-8e4f-7a2b-9c3d-4e5f6a7b8c9d', '00000000-0000-0000-0000-000000000000', 'not-a-uuid'),
  );
  const configArb = fc.oneof(
    fc.anything(),
    fc.record(
      {
        callbacks: value,
        tags: value,
        metadata: value,
        runName: value,
        runId: fc.oneof(value, fc.uuid(), fc.constant('0190a6b2-7f1c-7cc1-9a64-4b8f5cf0c0de'), fc.constant('0190A6B2-7F1C-7CC1-9A64-4B8F5CF0C0DE')),
        signal: value,
        configurable: value,
        maxConcurrency: value,
        timeout: value,
        other: value,
      },
      { requiredKeys: [] },
    ),
  );

  it('agrees with the zod schema on every config', () => {
    fc.assert(
      fc.property(configArb, (config) => {
        const quick = quickParse(config);
        if (quick === undefined) return;
        const viaZod = (() => {
          try {
            return { ok: true as const, value: normalizeConfigWithZod(config) };
          } catch (error) {
            return { ok: false as const, error };
          }
        })();
        expect(viaZod.ok).toBe(true);
        expect(normalizeConfig(config)).toEqual(viaZod.ok ? viaZod.value : undefined);
      }),
      { numRuns: 2000 },
    );
  });
});
