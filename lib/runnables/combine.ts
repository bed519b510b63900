/**
 * Combines two streamed chunks into one, the way `RunnableGenerator.invoke` and run end events report a
 * streamed output: strings are concatenated, arrays joined, chat message chunks (`{ role, content }` with
 * string content) concatenated by content, other plain objects merged (later keys win), objects with a
 * `concat` method (LangChain.js message chunks) concatenated with it; for anything else the later chunk
 * replaces the earlier.
 */
export function combineChunks(previous: unknown, next: unknown): unknown {
  if (typeof previous === 'string' && typeof next === 'string') return previous + next;
  if (previous !== null && typeof previous === 'object' && !Array.isArray(previous) && typeof (previous as { concat?: unknown }).concat === 'function') {
    return (previous as { concat(other: unknown): unknown }).concat(next);
  }
  if (Array.isArray(previous) && Array.isArray(next)) return [...(previous as unknown[]), ...(next as unknown[])];
  if (isPlainObject(previous) && isPlainObject(next)) {
    if (isMessageChunk(previous) && isMessageChunk(next) && previous.role === next.role) {
      return { ...previous, ...next, content: previous.content + next.content };
    }
    return { ...previous, ...next };
  }
  return next;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isMessageChunk(value: Record<string, unknown>): value is { role: string; content: string } {
  return typeof value.role === 'string' && typeof value.content === 'string';
}
