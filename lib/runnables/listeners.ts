import { BaseCallbackHandler, type CallbackHandler } from '../callbacks/handler';
import type { ChainValues, Serialized } from '../callbacks/handler';
import type { ChatMessage } from '../models/messages';
import { ConfigError, describeValue } from '../errors';

/** The kind of a run, as LangChain's `Run.run_type` names it. */
export type ListenerRunType = 'chain' | 'tool' | 'llm';

/**
 * One run as a listener of `withListeners` sees it: the fields of LangChain's tracer `Run` object that
 * describe the run itself. The same object is passed to `onStart` and then, completed, to `onEnd` or
 * `onError`.
 */
export interface ListenerRun {
  /** The run's id. */
  readonly id: string;
  /** The run's name. */
  readonly name: string;
  /** `'chain'` for runnables, `'tool'` for tools, `'llm'` for chat models. */
  readonly run_type: ListenerRunType;
  /** The inputs as handlers receive them (a non-object input `v` is `{ input: v }`). */
  readonly inputs: Record<string, unknown>;
  /** The outputs (a non-object output `v` is `{ output: v }`); set when the run ended without error. */
  outputs: Record<string, unknown> | undefined;
  /** The error, as LangChain renders it (message, a blank line, the stack); set when the run failed. */
  error: string | undefined;
  /** The run this one was started in, if any. */
  readonly parent_run_id: string | undefined;
  /** The root of the run's tree (its own id for a root run). */
  readonly trace_id: string;
  /** Start time, in milliseconds since the epoch. */
  readonly start_time: number;
  /** End time, in milliseconds since the epoch; set when the run ended. */
  end_time: number | undefined;
  /** The run's tags. */
  readonly tags: readonly string[];
  /** `metadata`: the run's metadata. */
  readonly extra: { readonly metadata: Readonly<Record<string, unknown>> };
  /** How the runnable describes itself. */
  readonly serialized: Serialized;
}

/** A listener of {@link Runnable.withListeners}: sync or async; a returned promise is awaited. */
export type RunListener = (run: ListenerRun) => void | Promise<void>;

/** The listeners given to {@link Runnable.withListeners}. */
export interface RunListeners {
  /** Called once the run has started (after the handlers' start events). */
  onStart?: RunListener;
  /** Called when the run has ended with an output. */
  onEnd?: RunListener;
  /** Called when the run has failed. */
  onError?: RunListener;
}

const LISTENER_KEYS: ReadonlySet<string> = new Set(['onStart', 'onEnd', 'onError']);

/**
 * Checks the argument of `withListeners`.
 *
 * @throws {@link ConfigError} unless `listeners` is an object of functions with only the known keys.
 * @internal
 */
export function validListeners(listeners: unknown): RunListeners {
  if (listeners === null || typeof listeners !== 'object' || Array.isArray(listeners)) {
    throw new ConfigError('listeners', listeners, `Expected withListeners() to receive an object with onStart, onEnd or onError, got ${describeValue(listeners)}.`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  for (const [key, value] of Object.entries(listeners)) {
    if (!LISTENER_KEYS.has(key)) {
      throw new ConfigError(key, value, `Unknown option \`${key}\` of withListeners(): expected onStart, onEnd or onError.`, { code: 'INVALID_ARGUMENT' });
    }
    if (value !== undefined && typeof value !== 'function') {
      throw new ConfigError(key, value, `Expected \`${key}\` of withListeners() to be a function, got ${describeValue(value)}.`, { code: 'INVALID_ARGUMENT' });
    }
  }
  return listeners;
}

/**
 * The handler that calls one set of listeners for one run. It is added to that run's handlers only (its
 * children inherit the handlers without it), and it ignores events of any other run besides, so a config
 * handed on by hand cannot leak it either. It is a blocking handler: the run waits for the listeners.
 *
 * @internal
 */
export function listenerHandler(listeners: RunListeners, runId: string, rootRunId: string): CallbackHandler {
  return new ListenerHandler(listeners, runId, rootRunId);
}

/** LangChain hands handlers objects: a non-object value `v` becomes `{ [key]: v }`. */
function asRecord(value: unknown, key: string): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : { [key]: value };
}

function renderError(error: unknown): string {
  if (error instanceof Error) return error.message + (error.stack ? `\n\n${error.stack}` : '');
  return typeof error === 'string' ? error : String(error);
}

class ListenerHandler extends BaseCallbackHandler {
  private run: ListenerRun | undefined = undefined;

  constructor(
    private readonly listeners: RunListeners,
    private readonly runId: string,
    private readonly rootRunId: string,
  ) {
    super({ awaitHandlers: true });
    this.name = 'RunListeners';
  }

  private start(
    type: ListenerRunType,
    serialized: Serialized,
    inputs: Record<string, unknown>,
    runId: string,
    parentRunId: string | undefined,
    tags: readonly string[] | undefined,
    metadata: Record<string, unknown> | undefined,
    name: string | undefined,
  ): void | Promise<void> {
    if (runId !== this.runId || this.run !== undefined) return undefined;
    this.run = {
      id: runId,
      name: name ?? serialized.id[serialized.id.length - 1] ?? 'run',
      run_type: type,
      inputs,
      outputs: undefined,
      error: undefined,
      parent_run_id: parentRunId,
      trace_id: this.rootRunId,
      start_time: Date.now(),
      end_time: undefined,
      tags: tags ?? [],
      extra: { metadata: metadata ?? {} },
      serialized,
    };
    return this.listeners.onStart?.(this.run);
  }

  private end(runId: string, outputs: ChainValues): void | Promise<void> {
    const run = this.run;
    if (runId !== this.runId || run === undefined || run.end_time !== undefined) return undefined;
    run.end_time = Date.now();
    run.outputs = outputs;
    return this.listeners.onEnd?.(run);
  }

  private fail(runId: string, error: unknown): void | Promise<void> {
    const run = this.run;
    if (runId !== this.runId || run === undefined || run.end_time !== undefined) return undefined;
    run.end_time = Date.now();
    run.error = renderError(error);
    return this.listeners.onError?.(run);
  }

  override handleChainStart(
    serialized: Serialized,
    inputs: ChainValues,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    _runType?: string,
    runName?: string,
  ): void | Promise<void> {
    return this.start('chain', serialized, inputs, runId, parentRunId, tags, metadata, runName);
  }

  override handleChainEnd(outputs: Record<string, unknown>, runId: string): void | Promise<void> {
    return this.end(runId, outputs);
  }

  override handleChainError(error: unknown, runId: string): void | Promise<void> {
    return this.fail(runId, error);
  }

  override handleToolStart(
    serialized: Serialized,
    input: string,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): void | Promise<void> {
    return this.start('tool', serialized, { input }, runId, parentRunId, tags, metadata, runName);
  }

  override handleToolEnd(output: unknown, runId: string): void | Promise<void> {
    return this.end(runId, asRecord(output, 'output'));
  }

  override handleToolError(error: unknown, runId: string): void | Promise<void> {
    return this.fail(runId, error);
  }

  override handleChatModelStart(
    serialized: Serialized,
    messages: ChatMessage[][],
    runId: string,
    parentRunId?: string,
    _extraParams?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): void | Promise<void> {
    return this.start('llm', serialized, { messages }, runId, parentRunId, tags, metadata, runName);
  }

  override handleLLMEnd(output: unknown, runId: string): void | Promise<void> {
    return this.end(runId, asRecord(output, 'output'));
  }

  override handleLLMError(error: unknown, runId: string): void | Promise<void> {
    return this.fail(runId, error);
  }
}
