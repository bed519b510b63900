import type { z } from 'zod';
import { createTracerRuns, EVENT, emit } from '../callbacks/dispatch';
import { ConfigError, describeValue, ToolInputError, type ToolInputIssue } from '../errors';
import type { RunnableConfig, RunScope } from '../runnables/config';
import { Runnable } from '../runnables/runnable';

/** A zod schema describing a tool's input. */
export type ToolSchema = z.ZodType;

/** Options of {@link tool}. */
export interface ToolOptions<TSchema extends ToolSchema> {
  /** The tool's name, as a model would call it. */
  name: string;
  /** What the tool does, for the model choosing tools. */
  description: string;
  /** Validates (and may transform) every input before the tool body runs. */
  schema: TSchema;
}

/** The function a {@link tool} runs: given the validated input and the run's config. */
export type ToolFunction<TInput, TOutput> = (input: TInput, config: RunnableConfig) => TOutput | Promise<TOutput>;

/**
 * A tool: a runnable with a name, a description and an input schema. Its input is validated before the body
 * runs; an invalid input emits `handleToolStart` then `handleToolError` and rejects with
 * {@link ToolInputError}. Its runs report tool events, which LangChain gates with `ignoreAgent`.
 *
 * Subclass it and implement {@link StructuredTool._call}, or use {@link tool}.
 */
export abstract class StructuredTool<TSchema extends ToolSchema = ToolSchema, TOutput = unknown> extends Runnable<
  z.input<TSchema>,
  TOutput
> {
  /** What the tool does. */
  readonly description: string;
  /** The input schema. */
  readonly schema: TSchema;

  /**
   * @param options - name, description and schema.
   * @throws {@link ConfigError} when an option is missing or has the wrong type.
   */
  constructor(options: ToolOptions<TSchema>) {
    super(validToolOptions(options).name);
    this.description = options.description;
    this.schema = options.schema;
  }

  /** The tool body, given the validated input. */
  abstract _call(input: z.output<TSchema>, config: RunnableConfig): Promise<TOutput> | TOutput;

  /** @internal */
  override async _invoke(input: z.input<TSchema>, config: RunnableConfig): Promise<TOutput> {
    const parsed = await this.schema.safeParseAsync(input);
    if (!parsed.success) {
      const issues: ToolInputIssue[] = parsed.error.issues.map((issue) => ({
        path: issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key)),
        message: issue.message,
      }));
      throw new ToolInputError(this.name, input, issues, parsed.error);
    }
    return this._call(parsed.data, config);
  }

  /** @internal */
  protected override get kind(): string {
    return 'tools';
  }

  /** @internal */
  override _emitStart(scope: RunScope, input: z.input<TSchema> | undefined): Promise<void> | undefined {
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.toolStart);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    const tracers = scope.callbacks.handlerSet.tracers(EVENT.toolStart);
    // LangChain gives tracers the input object itself and `handleToolStart` its JSON text.
    if (tracers.length > 0) {
      const raw = isPlainRecord(input) ? input : stringifyInput(input);
      createTracerRuns(tracers, '_createRunForToolStart', [this.serialized, raw, runId, scope._parentRunId, scope.tags, scope.metadata, scope._runName], runId);
    }
    return emit(
      listeners,
      'handleToolStart',
      [this.serialized, stringifyInput(input), runId, scope._parentRunId, scope.tags, scope.metadata, scope._runName],
      runId,
      scope._rootRunId,
    );
  }

  /** @internal */
  override _emitEnd(scope: RunScope, output: TOutput | undefined): Promise<void> | undefined {
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.toolEnd);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    return emit(listeners, 'handleToolEnd', [output, runId, scope._parentRunId, scope.tags], runId, scope._rootRunId);
  }

  /** @internal */
  override _emitError(scope: RunScope, error: unknown): Promise<void> | undefined {
    const listeners = scope.callbacks.handlerSet.listeners(EVENT.toolError);
    if (listeners.length === 0) return undefined;
    const runId = scope.callbacks.parentRunId;
    return emit(listeners, 'handleToolError', [error, runId, scope._parentRunId, scope.tags], runId, scope._rootRunId);
  }
}

class FunctionTool<TSchema extends ToolSchema, TOutput> extends StructuredTool<TSchema, TOutput> {
  private readonly fn: ToolFunction<z.output<TSchema>, TOutput>;

  constructor(fn: ToolFunction<z.output<TSchema>, TOutput>, options: ToolOptions<TSchema>) {
    super(options);
    this.fn = fn;
  }

  override _call(input: z.output<TSchema>, config: RunnableConfig): Promise<TOutput> | TOutput {
    return this.fn(input, config);
  }
}

/**
 * Makes a tool from a function and a zod schema. The function receives the validated input (typed from the
 * schema) and the run's config; runnables and models it calls are linked under the tool's run.
 *
 * @param fn - the tool body.
 * @param options - name, description and schema.
 * @returns a {@link StructuredTool}.
 * @throws {@link ConfigError} when `fn` is not a function or an option is missing or has the wrong type.
 * @example
 * ```ts
 * const weather = tool(async ({ city }) => `Sunny in ${city}`, {
 *   name: 'weather',
 *   description: 'Current weather for a city',
 *   schema: z.object({ city: z.string() }),
 * });
 * await weather.invoke({ city: 'Lisbon' });
 * ```
 */
export function tool<TSchema extends ToolSchema, TOutput>(
  fn: ToolFunction<z.output<TSchema>, TOutput>,
  options: ToolOptions<TSchema>,
): StructuredTool<TSchema, Awaited<TOutput>> {
  if (typeof fn !== 'function') {
    throw new ConfigError('fn', fn, `Expected tool() to receive a function as first argument, got ${describeValue(fn)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  return new FunctionTool<TSchema, Awaited<TOutput>>(fn as ToolFunction<z.output<TSchema>, Awaited<TOutput>>, options);
}

function validToolOptions<TSchema extends ToolSchema>(options: ToolOptions<TSchema>): ToolOptions<TSchema> {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('options', options, `Expected tool options { name, description, schema }, got ${describeValue(options)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  const { name, description, schema } = options as { name: unknown; description: unknown; schema: unknown };
  if (typeof name !== 'string' || name.length === 0) {
    throw new ConfigError('name', name, `Expected tool \`name\` to be a non-empty string, got ${describeValue(name)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  if (typeof description !== 'string') {
    throw new ConfigError('description', description, `Expected \`description\` of tool \`${name}\` to be a string, got ${describeValue(description)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  if (schema === null || typeof schema !== 'object' || typeof (schema as { safeParseAsync?: unknown }).safeParseAsync !== 'function') {
    throw new ConfigError('schema', schema, `Expected \`schema\` of tool \`${name}\` to be a zod schema, got ${describeValue(schema)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  return options;
}

// LangChain hands tool handlers the input as a string: strings as they are, anything else as JSON.
function stringifyInput(input: unknown): string {
  if (typeof input === 'string') return input;
  try {
    return JSON.stringify(input) ?? String(input);
  } catch {
    return String(input);
  }
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
