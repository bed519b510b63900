import type { z } from 'zod';
import { parseOrThrow, type Expectations } from '../internal/validation';
import type { Zod } from '../platform/dependencies';
import { normalizeConfig, type NormalizedConfig } from '../runnables/config';

/**
 * The options every SDK client wrapper takes (`wrapAnthropic`, `wrapOpenAI`); a wrapper may add its own.
 *
 * @internal
 */
export interface ClientOptions {
  name?: string;
  tags?: readonly string[];
  metadata?: Record<string, unknown>;
}

/**
 * What the shared options must be, in words, for error messages; a wrapper adds its own options' entries.
 *
 * @internal
 */
export const CLIENT_OPTION_EXPECTATIONS: Expectations = Object.freeze({
  name: 'a non-empty string',
  tags: 'an array of strings',
  metadata: 'a plain object',
});

/**
 * The zod fields of the shared options, for a wrapper's strict schema: `z.strictObject({
 * ...clientOptionFields(z), provider: ... })`, built on first use with `lazySchema`.
 *
 * @internal
 */
export function clientOptionFields(z: Zod) {
  return {
    name: z.string().min(1).optional(),
    tags: z.array(z.string()).optional(),
    metadata: z.custom<Record<string, unknown>>((value) => value !== null && typeof value === 'object' && !Array.isArray(value)).optional(),
  };
}

/**
 * A wrapped client's settings from its options: the name of its model runs, and its tags and metadata as
 * the config bound to each of them.
 *
 * @internal
 */
export interface ClientSettings<TOptions extends ClientOptions> {
  /** The options as parsed, for a wrapper's own options. */
  readonly options: TOptions;
  readonly name: string;
  readonly bound: NormalizedConfig | undefined;
}

/**
 * Parses the options of an SDK client wrapper. Each wrapper builds its schema from {@link clientOptionFields}
 * and its own options; errors name the wrapper (`entry`, e.g. `'wrapAnthropic()'`) and the offending field.
 *
 * @param entry - the wrapper as error messages name it, e.g. `'wrapOpenAI()'`.
 * @param options - the options as given (`undefined` for none).
 * @param schema - the wrapper's strict schema of its options, built on first use (zod loads only when options are given).
 * @param expectations - what each option must be, in words ({@link CLIENT_OPTION_EXPECTATIONS} and the wrapper's own).
 * @param defaultName - the model runs' name when `name` is not given.
 * @returns the parsed options, the runs' name and the config bound to every run.
 * @throws {@link ConfigError} when an option is invalid or unknown.
 * @internal
 */
export function parseClientOptions<TOptions extends ClientOptions>(
  entry: string,
  options: unknown,
  schema: () => z.ZodType<TOptions>,
  expectations: Expectations,
  defaultName: string,
): ClientSettings<TOptions> {
  const what = `${entry} options`;
  const parsed = options === undefined ? ({} as TOptions) : parseOrThrow(schema(), options, what, expectations);
  const bound = parsed.tags === undefined && parsed.metadata === undefined ? undefined : normalizeConfig({ tags: parsed.tags, metadata: parsed.metadata }, what);
  return { options: parsed, name: parsed.name ?? defaultName, bound };
}
