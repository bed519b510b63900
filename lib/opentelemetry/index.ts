/**
 * `callscope/opentelemetry`: callscope runs as OpenTelemetry spans, and run context carried across processes
 * in W3C `traceparent` and `baggage` headers. Needs the optional peer `@opentelemetry/api`.
 *
 * Every public name of this entry point is listed here.
 */
export { OpenTelemetryTracer } from './tracer';
export type { OpenTelemetryTracerLike, OpenTelemetryTracerOptions } from './tracer';
export { extractRunContext, injectRunContext } from './propagation';
export type { ExtractedRunConfig, ExtractRunContextOptions, HeadersLike, InjectRunContextOptions, RunContextCarrier } from './propagation';
