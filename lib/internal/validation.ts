import type { z } from 'zod';
import { ConfigError, describeValue, formatPath } from '../errors';
import { loadZod } from '../platform';
import type { Zod } from '../platform/dependencies';

/**
 * A schema built the first time it is needed, so that importing callscope never loads zod (about 120 ms):
 * `const options = lazySchema((z) => z.strictObject({ ... }))`, then `parseOrThrow(options(), ...)`.
 */
export function lazySchema<T>(build: (z: Zod) => T): () => T {
  let schema: T | undefined;
  return () => (schema ??= build(loadZod()));
}

/**
 * What each field of an options object must be, in words, for error messages:
 * `{ tags: 'an array of strings' }` gives "expected `tags` to be an array of strings".
 */
export type Expectations = Readonly<Record<string, string>>;

/**
 * Parses `value` with `schema` and returns the parsed value, or throws a {@link ConfigError} that names the
 * first failing field, the value received there and what was expected.
 *
 * @param what - how the object is called in the message, e.g. "RunnableConfig" or "configure() options".
 */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string, expectations: Expectations): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw toConfigError(result.error, value, what, expectations);
}

function toConfigError(error: z.ZodError, input: unknown, what: string, expectations: Expectations): ConfigError {
  const issue = deepest(error.issues[0]);
  if (issue === undefined) return new ConfigError('(root)', input, `Invalid ${what}.`, { cause: error });
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const path = [...issue.path, key];
    const known = Object.keys(expectations);
    return new ConfigError(pathText(path), valueAt(input, path), unknownKeyMessage(String(key), formatPath(path), what, known), {
      cause: error,
    });
  }
  if (issue.path.length === 0) {
    return new ConfigError(
      '(root)',
      input,
      `Expected ${what} to be an object, got ${describeValue(input)}.`,
      { cause: error },
    );
  }
  const field = String(issue.path[0]);
  const expected = expectations[field];
  const fieldValue = valueAt(input, [field]);
  let message = expected
    ? `Expected \`${field}\` to be ${expected}, got ${describeValue(fieldValue)}`
    : `Invalid \`${field}\`: ${issue.message}, got ${describeValue(fieldValue)}`;
  if (issue.path.length > 1) {
    message += ` (at ${formatPath(issue.path)}: got ${describeValue(valueAt(input, issue.path))})`;
  }
  return new ConfigError(pathText(issue.path), fieldValue, `${message} in ${what}.`, { cause: error });
}

type Issue = z.core.$ZodIssue;

// For a union, the branch that got furthest into the value says best what is wrong with it. Zod reports
// the branches' paths relative to the union.
function deepest(issue: Issue | undefined): Issue | undefined {
  if (issue === undefined || issue.code !== 'invalid_union') return issue;
  let best: Issue = issue;
  let bestDepth = 0;
  for (const branch of issue.errors) {
    const candidate = deepest(branch[0]);
    if (candidate !== undefined && candidate.path.length > bestDepth) {
      best = { ...candidate, path: [...issue.path, ...candidate.path] };
      bestDepth = candidate.path.length;
    }
  }
  return best;
}

function pathText(path: readonly PropertyKey[]): string {
  return formatPath(path).slice(1, -1);
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * The key among `known` that `key` is most likely a misspelling of: the same letters in another case
 * (`ignoreLlm` for `ignoreLLM`), a plural or singular (`callback`, `color`), or at most two edits away for
 * keys of five letters or more (`raiseErrors`). `undefined` when nothing is close.
 */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const other = candidate.toLowerCase();
    if (other === lower) return candidate;
    const distance = editDistance(lower, other, 3);
    const allowed = Math.min(key.length, candidate.length) >= 5 ? 2 : 1;
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * Edit distance of `a` and `b` counting a swap of two neighbouring letters as one edit (`prot` for `port`,
 * the commonest typo), or `limit` when it is at least that.
 */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, (beforePrevious[j - 2] as number) + 1);
      current.push(value);
      if (value < rowMin) rowMin = value;
    }
    if (rowMin >= limit) return limit;
    beforePrevious = previous;
    previous = current;
  }
  return Math.min(previous[b.length] as number, limit);
}

/** "Unknown option `x` in what; did you mean `y`? Expected only: a, b." */
function unknownKeyMessage(key: string, shown: string, what: string, known: readonly string[]): string {
  const near = nearestKey(key, known);
  const hint = near === undefined ? '' : ` Did you mean \`${near}\`?`;
  return `Unknown option ${shown} in ${what}.${hint} Expected only: ${known.join(', ')}.`;
}

/**
 * Refuses keys of `options` that are not in `known`: a misspelt option would otherwise be dropped without a
 * word, the very failure callscope exists to prevent.
 *
 * @param options - the options object (already known to be an object).
 * @param known - the keys it may have.
 * @param what - how the object is called in the message, e.g. "RunnableLambda.from() options".
 * @param accept - keys outside `known` that are allowed anyway (and ignored).
 * @throws {@link ConfigError} naming the first unknown key, the value it holds, the key probably meant and
 *   the keys expected.
 */
export function assertKnownKeys(
  options: object,
  known: readonly string[],
  what: string,
  code: 'INVALID_CONFIG' | 'INVALID_ARGUMENT' = 'INVALID_ARGUMENT',
  accept?: (key: string) => boolean,
): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key) || accept?.(key) === true) continue;
    throw new ConfigError(key, (options as Record<string, unknown>)[key], unknownKeyMessage(key, `\`${key}\``, what, known), { code });
  }
}
