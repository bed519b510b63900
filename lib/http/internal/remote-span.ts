import type { IncomingHttpHeaders } from 'node:http';
import type { CallbackManager, Callbacks } from '../../index';
import { tryLoadOpenTelemetry } from '../../opentelemetry/internal/api';
import { remoteSpanContextOf } from '../../opentelemetry/propagation';

/**
 * Calls `run` so that a request from a caller that sent a `traceparent` but no callscope run id (any
 * OpenTelemetry-instrumented client) continues the caller's trace: the caller's span is made the active
 * OpenTelemetry span, so the request run's span (an `OpenTelemetryTracer` parents a root run under the active
 * span) and any other span made while handling the request join that trace. A callscope caller's run id was
 * already taken care of by `extractRunContext`. Without `@opentelemetry/api` installed, or without a valid
 * `traceparent`, `run` is simply called.
 */
export function withRemoteSpan<T>(headers: IncomingHttpHeaders | Headers, callbacks: Callbacks | undefined, run: () => T): T {
  if ((callbacks as CallbackManager | undefined)?.parentRunId !== undefined) return run();
  const spanContext = remoteSpanContextOf(headers);
  if (spanContext === undefined) return run();
  const api = tryLoadOpenTelemetry();
  if (api === undefined) return run();
  return api.context.with(api.trace.setSpanContext(api.context.active(), spanContext), run);
}
