import type { z } from 'zod';
import { ConfigError, describeValue, formatPath } from '../errors';

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
    const known = Object.keys(expectations).join(', ');
    return new ConfigError(
      pathText(path),
      valueAt(input, path),
      `Unknown option ${formatPath(path)} in ${what}; expected only: ${known}.`,
      { cause: error },
    );
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
