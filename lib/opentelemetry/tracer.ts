import type { Attributes, AttributeValue, Context, Exception, Span, SpanContext, SpanKind, Tracer } from '@opentelemetry/api';
import type { LLMResult, RunEndInfo, RunStartInfo, Serialized } from '../index';
import { ConfigError, RunTracer, describeValue, isError, messageOf, nearestKey, remoteParentOfRun } from '../internal/for-integrations';
import { loadOpenTelemetry, openRunSpans, remoteParentOf, type OpenTelemetryApi } from './internal/api';

/**
 * What {@link OpenTelemetryTracer} needs of an OpenTelemetry `Tracer`: any `Tracer` from `@opentelemetry/api`
 * fits. Declared here so that callscope's type declarations do not need `@opentelemetry/api` installed.
 */
export interface OpenTelemetryTracerLike {
  startSpan(name: string, options?: unknown, context?: unknown): unknown;
}

/** Options of {@link OpenTelemetryTracer}. */
export interface OpenTelemetryTracerOptions {
  /**
   * The OpenTelemetry tracer the spans are made with, such as `provider.getTracer('my-app')`.
   * @default `trace.getTracer('callscope')`, from the globally registered tracer provider (looked up at
   *   each span, so a provider registered after the tracer was made is used)
   */
  tracer?: OpenTelemetryTracerLike;
}

// Well-known `gen_ai.system` / `gen_ai.provider.name` values of the GenAI semantic conventions, by the class
// name of the chat model (callscope's, or LangChain's, whose serialized id ends with it).
const PROVIDERS: Readonly<Record<string, string>> = {
  ChatAnthropic: 'anthropic',
  ChatOpenAI: 'openai',
  AzureChatOpenAI: 'az.ai.openai',
  ChatBedrockConverse: 'aws.bedrock',
  ChatCohere: 'cohere',
  ChatDeepSeek: 'deepseek',
  ChatGoogleGenerativeAI: 'gcp.gemini',
  ChatVertexAI: 'gcp.vertex_ai',
  ChatGroq: 'groq',
  ChatMistralAI: 'mistral_ai',
  ChatXAI: 'x_ai',
};

/**
 * A handler that turns every callscope run into an OpenTelemetry span: started at the run's start event,
 * ended at its end or error event, named after the run, and parented so that the spans form the same tree
 * as the runs.
 *
 * A span's parent is, in this order: the span of the run's parent run, when a tracer in this process
 * opened it; for a run whose parent run is in another process (a config from {@link extractRunContext}),
 * the caller's span from `traceparent` (or the span active at the start event when it belongs to that same
 * trace, such as the HTTP server span OpenTelemetry's instrumentation made for the request); otherwise the
 * span active at the start event (`context.active()`), so a root run started inside an HTTP server span,
 * or inside `tracer.startActiveSpan()`, becomes its child.
 *
 * Every span carries `callscope.run_id`, `callscope.run_type` (`chain`, `llm` or `tool`),
 * `callscope.parent_run_id` (unless a root run), `callscope.tags` (when there are tags) and
 * `callscope.metadata.<key>` for each metadata value that is a string, number, boolean or an array of one
 * of those. Model runs are `CLIENT` spans with the GenAI semantic conventions' attributes:
 * `gen_ai.operation.name` (`chat`), `gen_ai.request.model` and the request parameters the model reports
 * (`max_tokens`, `temperature`, `top_p`, `top_k`, `stop_sequences`), `gen_ai.system` and
 * `gen_ai.provider.name` when the provider is known, and at the end `gen_ai.usage.input_tokens`,
 * `gen_ai.usage.output_tokens`, `gen_ai.response.finish_reasons`, `gen_ai.response.model` and
 * `gen_ai.response.id` when the model reports them. Tool runs carry `gen_ai.operation.name`
 * (`execute_tool`) and `gen_ai.tool.name`. A failed run records the exception, sets `error.type` and the
 * status `ERROR` with the error's message. Custom events become span events.
 *
 * The tracer is always delivered blocking (`awaitHandlers` is `true`, whatever `configure({ callbacks })`
 * says): a span must start while the caller's OpenTelemetry context is active. It never throws into a
 * run: a failure of its own is reported through OpenTelemetry's `diag` logger.
 *
 * Needs `@opentelemetry/api` (an optional peer dependency), loaded when the first tracer is made.
 *
 * @example
 * ```ts
 * import { trace } from '@opentelemetry/api';
 * import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
 *
 * trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] }));
 * await agent.invoke('Lisbon', { callbacks: [new OpenTelemetryTracer()] });
 * ```
 */
// The run state is the run's span, typed `unknown` here so that callscope's published types never name
// `@opentelemetry/api`, which users may not have installed.
export class OpenTelemetryTracer extends RunTracer<unknown> {
  private readonly api: OpenTelemetryApi;
  private readonly tracer: Tracer;
  // Which run each open span belongs to, to release it from the process-wide registry at its end.
  private readonly runIds = new WeakMap<Span, string>();

  /**
   * @param options - see {@link OpenTelemetryTracerOptions}.
   * @throws {@link ConfigError} when `options` or `options.tracer` is not what is expected.
   * @throws {@link CallscopeError} with code `DEPENDENCY_MISSING` when `@opentelemetry/api` is not installed.
   */
  constructor(options: OpenTelemetryTracerOptions = {}) {
    // Blocking delivery: the start event must run in the caller's OpenTelemetry context.
    super({ awaitHandlers: true });
    validate(options);
    this.api = loadOpenTelemetry('OpenTelemetryTracer');
    this.tracer = (options.tracer as Tracer | undefined) ?? this.api.trace.getTracer('callscope');
  }

  /** @internal Opens the run's span (or nothing, if making it failed: see {@link OpenTelemetryTracer.guard}). */
  protected override startRun(start: RunStartInfo): unknown {
    return this.guard(() => this.start(start, startAttributes(start)));
  }

  /** @internal Ends the run's span, with the model's results or the error. */
  protected override endRun(state: unknown, end: RunEndInfo): void {
    const span = state as Span | undefined;
    if (span === undefined) return;
    this.guard(() => {
      this.release(span);
      if (end.failed) this.fail(span, end.error);
      else {
        if (end.llmResult !== undefined) span.setAttributes(modelEndAttributes(end.llmResult));
        span.end();
      }
    });
  }

  /**
   * Makes the run's span the active OpenTelemetry span while its body runs, so that spans made inside it (an
   * instrumented HTTP client, a provider SDK's own spans, `tracer.startActiveSpan` in your code) nest under
   * the run, and `injectRunContext` there propagates it.
   */
  override wrapRunBody<T>(runId: string, body: () => T): T {
    const span = this.runInFlight(runId) as Span | undefined;
    if (span === undefined) return body();
    const { context, trace } = this.api;
    return context.with(trace.setSpan(context.active(), span), body);
  }

  /** @internal Custom events become span events. */
  protected override customEventInRun(state: unknown, name: string, data: unknown): void {
    const span = state as Span | undefined;
    this.guard(() => {
      const attributes: Attributes = {};
      if (isRecord(data)) for (const [key, value] of Object.entries(data)) addAttribute(attributes, key, value);
      else addAttribute(attributes, 'value', data);
      span?.addEvent(name, attributes);
    });
  }

  private start(start: RunStartInfo, extra: Attributes | undefined): Span {
    const { runId, parentRunId, type, name, tags, metadata } = start;
    const attributes: Attributes = { 'callscope.run_id': runId, 'callscope.run_type': type };
    if (parentRunId !== undefined) attributes['callscope.parent_run_id'] = parentRunId;
    if (tags.length > 0) attributes['callscope.tags'] = [...tags];
    for (const [key, value] of Object.entries(metadata)) addAttribute(attributes, `callscope.metadata.${key}`, value);
    if (extra !== undefined) Object.assign(attributes, extra);
    const kind: SpanKind = type === 'llm' ? this.api.SpanKind.CLIENT : this.api.SpanKind.INTERNAL;
    const span = this.tracer.startSpan(name, { kind, attributes }, this.parentContext(runId, parentRunId, start.parentIsRemote));
    // With two tracers on one run, injectRunContext propagates the span of the first.
    if (!openRunSpans.has(runId)) openRunSpans.set(runId, span);
    this.runIds.set(span, runId);
    return span;
  }

  private parentContext(runId: string, parentRunId: string | undefined, parentIsRemote: boolean): Context {
    const { context, trace } = this.api;
    const active = context.active();
    if (parentRunId === undefined) return active;
    // A run whose parent is in another process is never put under a local run's span, even one whose run id
    // the caller sent back: its parent is the caller's span, which came with its own request.
    const parentSpan = parentIsRemote ? undefined : ((this.runInFlight(parentRunId) as Span | undefined) ?? openRunSpans.get(parentRunId));
    if (parentSpan !== undefined) return trace.setSpan(active, parentSpan);
    const remote = parentIsRemote ? (remoteParentOfRun(runId)?.spanContext as SpanContext | undefined) : remoteParentOf(parentRunId);
    if (remote !== undefined) {
      // OpenTelemetry's HTTP instrumentation makes a server span from the same traceparent: when the span
      // active now belongs to the caller's trace, it is that span (or one below it), so stay under it.
      const activeSpan = trace.getSpanContext(active);
      if (activeSpan !== undefined && activeSpan.traceId === remote.traceId) return active;
      return trace.setSpanContext(active, remote);
    }
    // A parent run no tracer here saw (this tracer was added below the root): the active span is the best guess.
    return active;
  }

  private fail(span: Span, error: unknown): void {
    span.recordException(toException(error));
    span.setAttribute('error.type', errorType(error));
    span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: messageOf(error) });
    span.end();
  }

  // The run is over: injectRunContext no longer propagates its span.
  private release(span: Span): void {
    const runId = this.runIds.get(span);
    if (runId !== undefined && openRunSpans.get(runId) === span) openRunSpans.delete(runId);
  }

  // OpenTelemetry's rule for instrumentation: never throw into the instrumented code, report through diag.
  private guard<T>(work: () => T): T | undefined {
    try {
      return work();
    } catch (error) {
      this.api.diag.error('callscope OpenTelemetryTracer failed to record a run:', error);
      return undefined;
    }
  }
}

function validate(options: unknown): asserts options is OpenTelemetryTracerOptions {
  const fail = (field: string, received: unknown, expected: string): never => {
    throw new ConfigError(field, received, `Expected \`${field}\` to be ${expected}, got ${describeValue(received)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  };
  if (options === null || typeof options !== 'object' || Array.isArray(options)) fail('options', options, 'an object');
  const { tracer, ...rest } = options as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) {
    const hint = nearestKey(unknown, ['tracer']) === undefined ? '' : ' Did you mean `tracer`?';
    throw new ConfigError(unknown, rest[unknown], `Unknown option \`${unknown}\` in OpenTelemetryTracer options.${hint} Expected only: tracer.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  if (tracer !== undefined && !(isRecordLike(tracer) && typeof (tracer as { startSpan?: unknown }).startSpan === 'function')) {
    fail('tracer', tracer, 'an OpenTelemetry Tracer (from `trace.getTracer()` or a tracer provider)');
  }
}

// Per kind of run: the model request attributes, or a tool's GenAI attributes.
function startAttributes(start: RunStartInfo): Attributes | undefined {
  if (start.type === 'llm') return modelStartAttributes(start.modelCall ?? 'chat', start.serialized, start.extraParams, start.metadata);
  if (start.type === 'tool') return { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': start.name };
  return undefined;
}

/** Adds `value` under `key` when OpenTelemetry can hold it: a primitive, or an array of one kind of primitive. */
function addAttribute(attributes: Attributes, key: string, value: unknown): void {
  const attribute = toAttributeValue(value);
  if (attribute !== undefined) attributes[key] = attribute;
}

function toAttributeValue(value: unknown): AttributeValue | undefined {
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const kind = typeof value[0];
  if (kind !== 'string' && kind !== 'number' && kind !== 'boolean') return undefined;
  if (!value.every((item) => typeof item === kind)) return undefined;
  return [...(value as string[])];
}

// The GenAI semantic conventions' request attributes, from the `invocation_params` callscope models (and
// LangChain's) report at the start: snake_case as callscope and most providers name them, camelCase as
// some LangChain models do.
function modelStartAttributes(
  operation: 'chat' | 'text_completion',
  serialized: Serialized | undefined,
  extraParams: Readonly<Record<string, unknown>> | undefined,
  metadata: Readonly<Record<string, unknown>> | undefined,
): Attributes {
  const attributes: Attributes = { 'gen_ai.operation.name': operation };
  const params = isRecord(extraParams?.invocation_params) ? extraParams.invocation_params : {};
  const model = firstString(params.model, params.model_name, params.modelName, metadata?.ls_model_name);
  if (model !== undefined) attributes['gen_ai.request.model'] = model;
  const numbers: [string, unknown][] = [
    ['gen_ai.request.max_tokens', params.max_tokens ?? params.maxTokens],
    ['gen_ai.request.temperature', params.temperature],
    ['gen_ai.request.top_p', params.top_p ?? params.topP],
    ['gen_ai.request.top_k', params.top_k ?? params.topK],
  ];
  for (const [key, value] of numbers) if (typeof value === 'number' && Number.isFinite(value)) attributes[key] = value;
  const stop = params.stop_sequences ?? params.stopSequences ?? params.stop;
  if (Array.isArray(stop) && stop.length > 0 && stop.every((item) => typeof item === 'string')) attributes['gen_ai.request.stop_sequences'] = stop;
  const className = serialized?.id?.[serialized.id.length - 1];
  const provider = firstString(params.provider, params.ls_provider, metadata?.ls_provider, className === undefined ? undefined : PROVIDERS[className]);
  if (provider !== undefined) {
    // `gen_ai.system` is the name most backends read today; the conventions now call it `gen_ai.provider.name`.
    attributes['gen_ai.system'] = provider;
    attributes['gen_ai.provider.name'] = provider;
  }
  return attributes;
}

// Where providers and LangChain models put usage, stop reasons and response ids: the result's `llmOutput`,
// each generation's `generationInfo`, and the message's response metadata.
function modelEndAttributes(output: LLMResult): Attributes {
  const attributes: Attributes = {};
  const generations = (Array.isArray(output?.generations) ? output.generations : []).flat().filter(isRecord);
  const perGeneration = generations.map((generation) => {
    const message: Record<string, unknown> = isRecord(generation.message) ? generation.message : {};
    const usage = isRecord(message.usage_metadata) ? { usage_metadata: message.usage_metadata } : undefined;
    return [generation.generationInfo, message.responseMetadata, message.response_metadata, usage].filter(isRecord);
  });
  const llmOutput = isRecord(output?.llmOutput) ? [output.llmOutput] : [];
  const sources = [...llmOutput, ...perGeneration.flat()];

  const inputTokens = firstCount(sources, [
    ['usage', 'input_tokens'],
    ['usage', 'prompt_tokens'],
    ['tokenUsage', 'promptTokens'],
    ['usage_metadata', 'input_tokens'],
    ['estimatedTokenUsage', 'promptTokens'],
  ]);
  const outputTokens = firstCount(sources, [
    ['usage', 'output_tokens'],
    ['usage', 'completion_tokens'],
    ['tokenUsage', 'completionTokens'],
    ['usage_metadata', 'output_tokens'],
    ['estimatedTokenUsage', 'completionTokens'],
  ]);
  if (inputTokens !== undefined) attributes['gen_ai.usage.input_tokens'] = inputTokens;
  if (outputTokens !== undefined) attributes['gen_ai.usage.output_tokens'] = outputTokens;

  // One finish reason per generation (the conventions' "choice"); the result-level one when none has its own.
  let reasons = perGeneration.map(finishReason).filter((reason): reason is string => reason !== undefined);
  if (reasons.length === 0) reasons = llmOutput.map(finishReason).filter((reason): reason is string => reason !== undefined);
  if (reasons.length > 0) attributes['gen_ai.response.finish_reasons'] = reasons;

  const responseModel = firstString(...sources.flatMap((source) => [source.model, source.model_name]));
  if (responseModel !== undefined) attributes['gen_ai.response.model'] = responseModel;
  const responseId = firstString(...sources.map((source) => source.id));
  if (responseId !== undefined) attributes['gen_ai.response.id'] = responseId;
  return attributes;
}

function finishReason(sources: Record<string, unknown> | Record<string, unknown>[]): string | undefined {
  for (const source of Array.isArray(sources) ? sources : [sources]) {
    const reason = firstString(source.stop_reason, source.finish_reason, source.stopReason, source.finishReason);
    if (reason !== undefined) return reason;
  }
  return undefined;
}

function firstCount(sources: readonly Record<string, unknown>[], paths: readonly (readonly [string, string])[]): number | undefined {
  for (const [outer, inner] of paths) {
    for (const source of sources) {
      const group = source[outer];
      const value = isRecord(group) ? group[inner] : undefined;
      if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
    }
  }
  return undefined;
}

function firstString(...values: unknown[]): string | undefined {
  for (const value of values) if (typeof value === 'string' && value !== '') return value;
  return undefined;
}

function toException(error: unknown): Exception {
  if (isError(error)) return error;
  if (typeof error === 'string') return error;
  return { message: messageOf(error) };
}

// The conventions' `error.type`: the error's class name, or `_OTHER` for a thrown non-error.
function errorType(error: unknown): string {
  if (isError(error)) return error.name || error.constructor?.name || 'Error';
  return '_OTHER';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isRecordLike(value: unknown): boolean {
  return value !== null && typeof value === 'object';
}
