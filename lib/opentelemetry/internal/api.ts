import type * as OtelApi from '@opentelemetry/api';
import type { Span, SpanContext } from '@opentelemetry/api';
import { requireOptional } from '../../internal/for-integrations';

/** The `@opentelemetry/api` module, as loaded at run time. */
export type OpenTelemetryApi = typeof OtelApi;

let api: OpenTelemetryApi | undefined;
let missing = false;

/**
 * `@opentelemetry/api`, loaded on first use, never at import: callscope must import and run without it.
 * The API keeps its registered providers and context manager on a process-wide global, so this copy sees
 * whatever the application registered through its own import.
 *
 * @throws {@link CallscopeError} with code `DEPENDENCY_MISSING`, naming `feature`.
 */
export function loadOpenTelemetry(feature: string): OpenTelemetryApi {
  api ??= requireOptional<OpenTelemetryApi>('@opentelemetry/api', feature);
  return api;
}

/** `@opentelemetry/api` when it is installed, else `undefined` (propagating run ids needs no OpenTelemetry). */
export function tryLoadOpenTelemetry(): OpenTelemetryApi | undefined {
  if (api !== undefined || missing) return api;
  try {
    return loadOpenTelemetry('Run context propagation');
  } catch {
    missing = true;
    return undefined;
  }
}

/**
 * The span of every callscope run that an `OpenTelemetryTracer` has open in this process, by run id, from
 * the run's start event to its end or error event. `injectRunContext` reads it to find the current run's
 * span; a tracer reads it to parent a run under a span another tracer opened.
 */
export const openRunSpans = new Map<string, Span>();

/**
 * The most remote parents remembered at once. Each `extractRunContext` call adds one (a request, typically)
 * and nothing can tell when the last local run under it has started, so the oldest are forgotten first.
 */
export const MAX_REMOTE_PARENTS = 10_000;

// Remote parent run id -> the caller's span, as extractRunContext read it from `traceparent`. A Map keeps
// insertion order, so the first key is the oldest.
const remoteParents = new Map<string, SpanContext>();

/** Remembers that runs whose parent run id is `runId` belong under the remote span `spanContext`. */
export function rememberRemoteParent(runId: string, spanContext: SpanContext): void {
  remoteParents.delete(runId);
  remoteParents.set(runId, spanContext);
  if (remoteParents.size > MAX_REMOTE_PARENTS) {
    const oldest = remoteParents.keys().next().value;
    if (oldest !== undefined) remoteParents.delete(oldest);
  }
}

/** The remote span that runs with parent run id `runId` belong under, if `extractRunContext` saw one. */
export function remoteParentOf(runId: string): SpanContext | undefined {
  return remoteParents.get(runId);
}

