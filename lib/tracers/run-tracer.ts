import {
  BaseCallbackHandler,
  type CallbackHandlerOptions,
  type ChainEndFields,
  type ChainValues,
  type ChatGeneration,
  type LLMResult,
  type Serialized,
} from '../callbacks/handler';
import type { ChatMessage } from '../models/messages';

/** The kind of a traced run. */
export type RunType = 'chain' | 'llm' | 'tool';

/** What a tracer learns when a run starts, whatever kind of run it is. */
export interface RunStartInfo {
  /** The run's id. */
  readonly runId: string;
  /** The id of the run it was started in, if any. */
  readonly parentRunId: string | undefined;
  /** What kind of runnable ran. */
  readonly type: RunType;
  /** The run's name. */
  readonly name: string;
  /** How the runnable described itself. */
  readonly serialized: Serialized;
  /** Chain inputs, a tool's input string, or `{ messages }` / `{ prompts }` for a model. */
  readonly inputs: unknown;
  /** The run's tags. */
  readonly tags: readonly string[];
  /** The run's metadata. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** For model runs: what the model reported about the call (`invocation_params`, ...). */
  readonly extraParams: Readonly<Record<string, unknown>> | undefined;
  /** For model runs: called with messages (`'chat'`) or a prompt (`'text_completion'`). */
  readonly modelCall: 'chat' | 'text_completion' | undefined;
  /** When the start event arrived (ms since the epoch). */
  readonly startTime: number;
}

/** What a tracer learns when a run ends or fails. */
export interface RunEndInfo {
  /** Whether the run failed (its error event), rather than ended. */
  readonly failed: boolean;
  /** Chain outputs, a tool's output, or the message a model produced; `undefined` when it failed. */
  readonly outputs: unknown;
  /** What the run failed with, when it failed. */
  readonly error: unknown;
  /** For model runs that ended: the whole `LLMResult` (usage, stop reason, provider details). */
  readonly llmResult: LLMResult | undefined;
  /** When the end or error event arrived (ms since the epoch). */
  readonly endTime: number;
  /**
   * The run's real inputs when they were known only at its end: a streamed transform step (a
   * `RunnableGenerator` in a streamed sequence) starts on its first input chunk with `{ input: '' }`, as in
   * LangChain, and reports its combined input here.
   */
  readonly inputs?: unknown;
}

/**
 * Base class for tracers: it listens to every run event and hands subclasses one start and one end per run,
 * in one shape whatever the run's kind, with the run's own state (`TRun`, whatever `startRun` returns) kept
 * between them. Tokens and custom events go to the state of the run they belong to. Events of runs it did not
 * see start are ignored.
 *
 * @example
 * ```ts
 * class SlowRunLogger extends RunTracer<RunStartInfo> {
 *   protected override startRun(start: RunStartInfo) { return start; }
 *   protected override endRun(start: RunStartInfo, end: RunEndInfo) {
 *     if (end.endTime - start.startTime > 1000) console.log(`slow: ${start.name}`);
 *   }
 * }
 * ```
 */
export abstract class RunTracer<TRun> extends BaseCallbackHandler {
  private readonly inFlight = new Map<string, TRun>();

  /** @param options - switches, see {@link CallbackHandlerOptions}. */
  constructor(options?: CallbackHandlerOptions) {
    super(options);
  }

  /** A run started: returns the state kept for it until its end. */
  protected abstract startRun(start: RunStartInfo): TRun;

  /** A run ended or failed. */
  protected abstract endRun(run: TRun, end: RunEndInfo): void;

  /** A model streamed a token in `run`. */
  protected tokenInRun(_run: TRun, _token: string): void {}

  /** Code in `run` dispatched a custom event. */
  protected customEventInRun(_run: TRun, _name: string, _data: unknown): void {}

  /** The state of a run between its start and its end, if this tracer saw it start. */
  protected runInFlight(runId: string): TRun | undefined {
    return this.inFlight.get(runId);
  }

  /** Stops tracking a run: its later events are ignored. */
  protected forgetRun(runId: string): void {
    this.inFlight.delete(runId);
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
  ): void {
    this.recordStart('chain', serialized, inputs, runId, parentRunId, tags, metadata, runName, undefined, undefined);
  }

  override handleChatModelStart(
    serialized: Serialized,
    messages: ChatMessage[][],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): void {
    this.recordStart('llm', serialized, { messages }, runId, parentRunId, tags, metadata, runName, extraParams, 'chat');
  }

  // Chat models call handleChatModelStart, which this class defines; this is for text-completion models
  // (reported by LangChain.js through the bridge).
  override handleLLMStart(
    serialized: Serialized,
    prompts: string[],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): void {
    this.recordStart('llm', serialized, { prompts }, runId, parentRunId, tags, metadata, runName, extraParams, 'text_completion');
  }

  override handleToolStart(
    serialized: Serialized,
    input: string,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
  ): void {
    this.recordStart('tool', serialized, input, runId, parentRunId, tags, metadata, runName, undefined, undefined);
  }

  override handleChainEnd(outputs: ChainValues, runId: string, _parentRunId?: string, _tags?: string[], kwargs?: ChainEndFields): void {
    this.recordEnd(runId, false, outputs, undefined, undefined, kwargs?.inputs);
  }

  override handleToolEnd(output: unknown, runId: string): void {
    this.recordEnd(runId, false, output, undefined, undefined);
  }

  override handleLLMEnd(output: LLMResult, runId: string): void {
    const generation: ChatGeneration | undefined = output.generations[0]?.[0];
    this.recordEnd(runId, false, generation?.message ?? output, undefined, output);
  }

  override handleChainError(error: unknown, runId: string, _parentRunId?: string, _tags?: string[], kwargs?: ChainEndFields): void {
    this.recordEnd(runId, true, undefined, error, undefined, kwargs?.inputs);
  }

  override handleToolError(error: unknown, runId: string): void {
    this.recordEnd(runId, true, undefined, error, undefined);
  }

  override handleLLMError(error: unknown, runId: string): void {
    this.recordEnd(runId, true, undefined, error, undefined);
  }

  override handleLLMNewToken(token: string, _idx: unknown, runId: string): void {
    const run = this.inFlight.get(runId);
    if (run !== undefined) this.tokenInRun(run, token);
  }

  override handleCustomEvent(eventName: string, data: unknown, runId: string): void {
    const run = this.inFlight.get(runId);
    if (run !== undefined) this.customEventInRun(run, eventName, data);
  }

  private recordStart(
    type: RunType,
    serialized: Serialized,
    inputs: unknown,
    runId: string,
    parentRunId: string | undefined,
    tags: readonly string[] | undefined,
    metadata: Readonly<Record<string, unknown>> | undefined,
    runName: string | undefined,
    extraParams: Readonly<Record<string, unknown>> | undefined,
    modelCall: RunStartInfo['modelCall'],
  ): void {
    const run = this.startRun({
      runId,
      parentRunId,
      type,
      name: nameOf(serialized, runName),
      serialized,
      inputs,
      tags: tags ?? [],
      metadata: metadata ?? {},
      extraParams,
      modelCall,
      startTime: Date.now(),
    });
    this.inFlight.set(runId, run);
  }

  private recordEnd(runId: string, failed: boolean, outputs: unknown, error: unknown, llmResult: LLMResult | undefined, inputs?: unknown): void {
    const run = this.inFlight.get(runId);
    if (run === undefined) return;
    this.inFlight.delete(runId);
    const end: RunEndInfo = { failed, outputs, error, llmResult, endTime: Date.now() };
    this.endRun(run, inputs === undefined ? end : { ...end, inputs });
  }
}

function nameOf(serialized: Serialized | undefined, runName: string | undefined): string {
  if (typeof runName === 'string' && runName !== '') return runName;
  const id = serialized?.id;
  const last = Array.isArray(id) ? (id[id.length - 1] as unknown) : undefined;
  return typeof last === 'string' && last !== '' ? last : 'unknown';
}
