import { BaseMessage } from '../../models/messages';
import { isNativeError } from '../../platform';

/** A value `JSON.stringify` accepts as is and renders without throwing. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Bounds of {@link toJsonValue}. */
export interface ToJsonValueOptions {
  /** Objects and arrays nested deeper than this become `"[Object]"` / `"[Array]"`. */
  readonly maxDepth: number;
  /** Arrays and objects keep at most this many entries; a last `"…"` entry says some were dropped. */
  readonly maxItems?: number;
  /** Strings longer than this are cut, with `…` appended. */
  readonly maxStringLength?: number;
}

/** The serialised form of an error: what a log reader needs, whatever was thrown. */
export interface JsonError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly [key: string]: JsonValue | undefined;
}

const ELLIPSIS = '…';

/**
 * Turns any value into one `JSON.stringify` renders without throwing: cycles become `"[Circular]"`, BigInts
 * their decimal string, errors `{ name, message, stack, ...their own fields, cause }`, functions
 * `"[Function name]"`, symbols `"Symbol(description)"`, non-finite numbers their name, a `Map` its
 * `[key, value]` pairs, a `Set` its values, typed arrays and buffers a short description. A getter or
 * `toJSON` that throws gives `"[Unserializable: message]"` for that value only.
 */
export function toJsonValue(value: unknown, options: ToJsonValueOptions): JsonValue {
  return convert(value, 0, new Set(), options);
}

/** {@link toJsonValue} for a thrown value: always an object with `name` and `message`. */
export function toJsonError(error: unknown, options: ToJsonValueOptions): JsonError {
  const value = convert(error, 0, new Set(), options);
  if (isError(error) && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return value as JsonError;
  }
  // Something that is not an Error was thrown (a string, a plain object): keep it whole under `value`.
  return { name: 'NonError', message: typeof value === 'string' ? value : JSON.stringify(value), value };
}

function convert(value: unknown, depth: number, ancestors: Set<object>, options: ToJsonValueOptions): JsonValue {
  try {
    switch (typeof value) {
      case 'string':
        return cut(value, options.maxStringLength);
      case 'number':
        return Number.isFinite(value) ? value : String(value);
      case 'boolean':
        return value;
      case 'bigint':
        return value.toString();
      case 'symbol':
        return value.toString();
      case 'function': {
        const name: unknown = (value as { name?: unknown }).name;
        return `[Function ${typeof name === 'string' && name !== '' ? name : 'anonymous'}]`;
      }
      case 'undefined':
        return null;
      default:
        // 'object'
        return value === null ? null : convertObject(value as object, depth, ancestors, options);
    }
  } catch (error) {
    return `[Unserializable: ${messageOf(error)}]`;
  }
}

function convertObject(value: object, depth: number, ancestors: Set<object>, options: ToJsonValueOptions): JsonValue {
  // Only ancestors count as cycles: the same object reached twice through siblings is written twice.
  if (ancestors.has(value)) return '[Circular]';
  if (ArrayBuffer.isView(value)) return `[${value.constructor.name}(${value.byteLength} bytes)]`;
  if (value instanceof ArrayBuffer) return `[ArrayBuffer(${value.byteLength} bytes)]`;
  if (depth >= options.maxDepth) return Array.isArray(value) || value instanceof Set || value instanceof Map ? '[Array]' : '[Object]';
  ancestors.add(value);
  try {
    if (isError(value)) return convertError(value, depth, ancestors, options);
    if (Array.isArray(value)) return convertList(value, depth, ancestors, options);
    if (value instanceof Map) return convertList([...value.entries()], depth, ancestors, options);
    if (value instanceof Set) return convertList([...value.values()], depth, ancestors, options);
    // callscope's messages are written as callscope code sees them, `{ role, content, ... }`: their toJSON is
    // LangChain's serialized form, for LangChain tracers.
    if (value instanceof BaseMessage) return convertEntries(value, Object.keys(value), depth, ancestors, options, {});
    const toJSON: unknown = (value as { toJSON?: unknown }).toJSON;
    // Dates, URLs and user classes choose their own form; it is converted again, so it may be anything. It
    // counts as a level: a toJSON returning a fresh object on every call stops at maxDepth.
    if (typeof toJSON === 'function') return convert(toJSON.call(value), depth + 1, ancestors, options);
    return convertEntries(value, Object.keys(value), depth, ancestors, options, {});
  } finally {
    ancestors.delete(value);
  }
}

function convertError(error: Error, depth: number, ancestors: Set<object>, options: ToJsonValueOptions): JsonValue {
  const base: { [key: string]: JsonValue } = {
    name: convert(error.name, depth + 1, ancestors, options),
    message: convert(error.message, depth + 1, ancestors, options),
  };
  if (typeof error.stack === 'string') base.stack = error.stack;
  const keys = Object.keys(error).filter((key) => key !== 'name' && key !== 'message' && key !== 'stack');
  // `cause` is usually not enumerable; it often holds the error that explains this one.
  if (error.cause !== undefined && !keys.includes('cause')) keys.push('cause');
  return convertEntries(error, keys, depth, ancestors, options, base);
}

function convertList(items: readonly unknown[], depth: number, ancestors: Set<object>, options: ToJsonValueOptions): JsonValue[] {
  const limit = Math.min(items.length, options.maxItems ?? Infinity);
  const out: JsonValue[] = [];
  for (let i = 0; i < limit; i++) out.push(convert(items[i], depth + 1, ancestors, options));
  if (limit < items.length) out.push(ELLIPSIS);
  return out;
}

function convertEntries(
  value: object,
  keys: readonly string[],
  depth: number,
  ancestors: Set<object>,
  options: ToJsonValueOptions,
  out: { [key: string]: JsonValue },
): JsonValue {
  const limit = Math.min(keys.length, options.maxItems ?? Infinity);
  for (let i = 0; i < limit; i++) {
    const key = keys[i] as string;
    let item: unknown;
    try {
      item = (value as Record<string, unknown>)[key];
    } catch (error) {
      setEntry(out, key, `[Unserializable: ${messageOf(error)}]`);
      continue;
    }
    // As JSON.stringify does: a property holding undefined is left out.
    if (item !== undefined) setEntry(out, key, convert(item, depth + 1, ancestors, options));
  }
  if (limit < keys.length) out[ELLIPSIS] = `${keys.length - limit} more`;
  return out;
}

// A `__proto__` key is data from the value, written as such: assigning it would set the prototype of the
// output instead, and the key would vanish from the JSON.
function setEntry(out: { [key: string]: JsonValue }, key: string, value: JsonValue): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

function cut(text: string, max: number | undefined): string {
  return max === undefined || text.length <= max ? text : text.slice(0, Math.max(0, max - 1)) + ELLIPSIS;
}

/** Whether `value` is an Error, including one made in another realm (a `vm` context, a test sandbox). */
export function isError(value: unknown): value is Error {
  return value instanceof Error || isNativeError(value);
}

/** The message of an error, or the value as a string; never throws. */
export function messageOf(error: unknown): string {
  try {
    return isError(error) ? error.message : String(error);
  } catch {
    return 'unknown error';
  }
}
